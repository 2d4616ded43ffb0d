"""`partners reload` reaches every process of workers started with the bare Celery command.

The workers run exactly as DESIGN.md's Interfaces write them: `celery -A workers worker -Q events`,
`-Q feeds`, `-Q deliveries`, no pool, concurrency or node-name flags. Under Celery's own default
(prefork) the events worker's children applied events with the partners they started with: a
reload reached only the parent, and the next article was fanned out without the new partner.

- reload adding a partner: the next article is fanned out to it, and it receives it;
- reload removing a partner: the next article creates no delivery for it, and it gets nothing more.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
import yaml

from syndication.configuration import load_settings
from syndication.delivery import records
from syndication.infra.context import Context
from syndication.ops import heartbeats
from tests.conftest import API_KEY
from tests.support.events import article_event, post_all
from tests.support.processes import Proc, api, free_port, private_env, running, wait_for
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration
QUEUES = ("events", "feeds", "deliveries")


def _partner(pid: str, receiver: Receiver) -> dict:
    return {"id": pid, "url": receiver.url, "format": "json", "allow_private_network": True}


@pytest.fixture()
def bare(redis_url, tmp_path):
    receivers = {n: Receiver.start() for n in ("staying", "joining")}
    partners_file = tmp_path / "partners.yaml"

    def write(*ids: str) -> None:
        partners_file.write_text(yaml.safe_dump({"partners": [_partner(i, receivers[i]) for i in ids]}))

    write("staying")
    port = free_port()
    env = private_env(redis_url, port, partners_file, "bare", SYNDICATION_API_KEYS=API_KEY)
    ctx = Context.build(load_settings(env))
    procs = [api(env, tmp_path, port)] + [
        Proc(f"worker-{q}-bare", [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", q], env, tmp_path)
        for q in QUEUES]
    with running(procs, receivers.values()):
        wait_for(lambda: {q for w in heartbeats.roster(ctx) if w["online"] for q in w["queues"]} >= set(QUEUES),
                 timeout=30, what="a bare worker online for every queue")
        yield {"env": env, "base": f"http://127.0.0.1:{port}", "ctx": ctx, "receivers": receivers, "write": write}


def _reload(env: dict) -> str:
    done = subprocess.run([sys.executable, "-m", "syndication.cli", "partners", "reload"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _publish(bare, name: str) -> str:
    aid = f"{name}-{uuid.uuid4().hex[:8]}"
    post_all(bare["base"], [article_event(aid)], API_KEY)
    return aid


def test_reload_adds_and_removes_a_partner_in_every_process_of_bare_workers(bare):
    ctx, rc = bare["ctx"], bare["receivers"]
    before = _publish(bare, "before")
    wait_for(lambda: rc["staying"].for_article(before), timeout=20, what="the first article at staying")

    bare["write"]("staying", "joining")
    out = _reload(bare["env"])
    # Each bare worker reports under a name of its own (Celery names them all celery@<host>).
    assert "added: joining" in out and f"applied by all {len(QUEUES)} online workers" in out, out
    added = _publish(bare, "added")
    # The command returns once every online process runs the new file: the next article is fanned out
    # to the new partner by whichever events thread applies it, and pushed by the deliveries worker.
    wait_for(lambda: rc["joining"].for_article(added), timeout=20, what="the next article at the new partner")
    assert rc["staying"].for_article(added) or wait_for(lambda: rc["staying"].for_article(added), timeout=20)

    bare["write"]("staying")
    out = _reload(bare["env"])
    assert "removed: joining" in out, out
    removed = _publish(bare, "removed")
    wait_for(lambda: rc["staying"].for_article(removed), timeout=20, what="the last article at staying")
    # Fan-out made its decision when staying's delivery was created: none was made for joining.
    assert records.get(ctx, records.delivery_id(removed, 1, "joining")) is None
    assert rc["joining"].for_article(removed) == [] and rc["joining"].for_article(before) == []


def test_bare_workers_of_one_host_beat_under_names_of_their_own_and_keep_them_across_restarts(redis_url, tmp_path):
    """The names `claim_name` gives workers Celery calls `celery@<host>`: per queue, a second worker for
    the same queue gets the next, a stopped or dead holder's name is taken back."""
    import socket

    (tmp_path / "partners.yaml").write_text("partners: []\n")
    ctx = Context.build(load_settings(private_env(redis_url, 7000, tmp_path / "partners.yaml", "names")))
    host, me = socket.gethostname(), os.getpid()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # another live process
    try:
        assert heartbeats.claim_name(ctx, ["deliveries"], pid=alive.pid) == f"deliveries@{host}"
        assert heartbeats.claim_name(ctx, ["events"], pid=alive.pid) == f"events@{host}"
        assert heartbeats.claim_name(ctx, ["deliveries"], pid=me) == f"deliveries-2@{host}"  # held by a live one
        assert heartbeats.claim_name(ctx, ["deliveries"], pid=me) == f"deliveries-2@{host}"  # its own, again
        heartbeats.leave(ctx, f"deliveries@{host}")  # a clean stop: the restarted worker takes it back
        assert heartbeats.claim_name(ctx, ["deliveries"], pid=me + 1) == f"deliveries@{host}"
    finally:
        alive.kill()
        alive.wait()
    # A holder killed with -9 never said it stopped: its name is free once its process is gone.
    assert heartbeats.claim_name(ctx, ["events"], pid=me) == f"events@{host}"

