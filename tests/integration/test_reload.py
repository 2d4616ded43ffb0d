"""Partners that change under load: `syndication partners reload` and SIGHUP, on real processes.

- a changed URL with 100 retries pending: after the reload none reaches the old URL;
- a removed partner: its pending deliveries end `cancelled`, with the reason;
- an invalid file: rejected whole (exit 2, the same error as `config check`), the running
  configuration stays;
- a rotated secret (`secret_env` holding "new old"): every push verifies with the
  `standardwebhooks` library against each of the two secrets;
- SIGHUP to one worker reloads every process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import yaml
from standardwebhooks import Webhook

from tests.conftest import API_KEY
from tests.support import config
from tests.support.events import article_event, post_all
from tests.support.processes import api, free_port, private_env, redis_server, start_all, stop_all, wait_for, worker
from tests.support.receiver import Receiver, Reply

OLD, NEW = config.secret("reload-old"), config.secret("reload-new")


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "syndication.cli", *args], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture()
def cluster(tmp_path):
    receivers = {n: Receiver.start() for n in ("old", "new", "leaving", "signed")}
    redis = redis_server(tmp_path).start()
    port = free_port()
    partners_file = tmp_path / "partners.yaml"
    env = private_env(f"redis://127.0.0.1:{redis.port}/0", port, partners_file, "r", SYNDICATION_API_KEYS=API_KEY,
                      SIGNED_OLD=OLD, SIGNED_ROTATING=f"{NEW} {OLD}")  # newest first

    def write(moving_url: str, leaving: bool = True, signed_env: str = "SIGNED_OLD") -> None:
        partners = [
            # Retries 20 s apart: all of them come due after every process has reloaded (<= 5 s).
            {"id": "moving", "url": moving_url, "format": "json", "allow_private_network": True,
             "filters": {"categories": ["Moving"]}, "breaker_threshold": 1000,
             "retry": {"base_delay": 20, "max_delay": 20}, "batch_size": 200},
            {"id": "signed", "url": receivers["signed"].url, "format": "json", "allow_private_network": True,
             "filters": {"categories": ["Signed"]},
             "auth": {"type": "standard-webhooks", "secret_env": signed_env}},
        ]
        if leaving:
            partners.append({"id": "leaving", "url": receivers["leaving"].url, "format": "json",
                             "allow_private_network": True, "filters": {"categories": ["Leaving"]},
                             "breaker_threshold": 1000, "retry": {"base_delay": 30, "max_delay": 30}})
        partners_file.write_text(yaml.safe_dump({"partners": partners}))

    write(receivers["old"].url)
    procs = [redis, api(env, tmp_path, port), worker("events", env, tmp_path),
             worker("feeds", env, tmp_path, concurrency=1), worker("deliveries", env, tmp_path)]
    try:
        start_all(procs[1:])  # cold starts overlap
        yield {"env": env, "base": f"http://127.0.0.1:{port}", "receivers": receivers, "write": write,
               "procs": procs, "partners_file": partners_file}
    finally:
        stop_all(procs[1:])  # then the Redis they use
        procs[0].stop()
        for r in receivers.values():
            r.stop()


def _publish(base: str, events: list[dict]) -> None:
    post_all(base, events, API_KEY)


def _events(prefix: str, category: str, n: int) -> list[dict]:
    tag = uuid.uuid4().hex[:6]
    return [article_event(f"{prefix}-{i}-{tag}", categories=[category]) for i in range(n)]


def test_a_changed_url_a_removed_partner_and_a_rejected_file(cluster):
    from syndication.configuration import load_settings
    from syndication.infra.context import Context

    env, base, rc = cluster["env"], cluster["base"], cluster["receivers"]
    ctx = Context.build(load_settings(env))
    rc["old"].default = Reply(503)
    rc["leaving"].default = Reply(503)
    moving, leaving = _events("mv", "Moving", 100), _events("lv", "Leaving", 5)
    _publish(base, moving + leaving)
    wait_for(lambda: ctx.redis.zcard(ctx.keys.partner_due("moving")) == 100 and
             ctx.redis.zcard(ctx.keys.partner_due("leaving")) == 5, timeout=60,
             what="every first attempt failed and recorded (retries pending)")

    # An invalid file is rejected whole, with config check's error; nothing changes.
    cluster["partners_file"].write_text("partners:\n  - id: moving\n    url: not a url\n")
    bad = _cli(env, "partners", "reload")
    assert bad.returncode == 2 and "moving" in bad.stderr and "url" in bad.stderr, bad.stderr
    check = _cli(env, "config", "check")
    assert check.returncode == 2 and bad.stderr.strip() == check.stderr.strip()

    cluster["write"](rc["new"].url, leaving=False)
    out = _cli(env, "partners", "reload")
    applied_at = time.time()  # the command returns once every online worker reports the new version
    assert out.returncode == 0, out.stderr
    assert "applied by all 3 online workers" in out.stdout, out.stdout
    assert "removed: leaving" in out.stdout and "changed: moving" in out.stdout, out.stdout

    # The removed partner's pending deliveries end cancelled, with the reason, and nothing more goes out.
    ids = [i.decode() for i in ctx.redis.zrange(ctx.keys.partner_history("leaving"), 0, -1)]
    assert len(ids) == 5
    recs = [ctx.redis.hgetall(ctx.keys.delivery(i)) for i in ids]
    assert {r[b"status"] for r in recs} == {b"cancelled"}
    assert all(b"removed from the partners file" in r[b"last_error"] for r in recs)

    # All 100 retries land at the new URL (those due while it propagated went to the old one, as they
    # should: the old configuration was still the one running); nothing reaches the old URL after.
    wait_for(lambda: len({r.webhook_id for r in rc["new"].requests}) == 100, timeout=60,
             what="the 100 retries at the new URL")
    late = [(r.at - applied_at, r.webhook_id) for r in rc["old"].requests if r.at > applied_at]
    assert not late, late
    assert not [r for r in rc["leaving"].requests if r.at > applied_at]  # nothing after the removal


def test_sighup_to_a_worker_rotates_a_secret_everywhere(cluster):
    base, rc = cluster["base"], cluster["receivers"]
    before = _events("sg0", "Signed", 1)
    _publish(base, before)
    wait_for(lambda: len(rc["signed"].requests) == 1, timeout=30, what="a push signed with the old secret")
    cluster["write"](rc["old"].url, signed_env="SIGNED_ROTATING")
    deliveries = cluster["procs"][-1]
    os.kill(deliveries.p.pid, signal.SIGHUP)  # one worker; every process follows through Redis

    def rotated() -> bool:
        _publish(base, _events("sg", "Signed", 1))
        time.sleep(0.5)
        last = rc["signed"].requests[-1]
        return len(last.headers["webhook-signature"].split()) == 2

    wait_for(rotated, timeout=20, interval=0.5, what="pushes signed with both secrets")
    last = rc["signed"].requests[-1]
    for secret in (NEW, OLD):  # a partner holding either secret verifies it
        Webhook(secret).verify(last.body, dict(last.headers))
    assert deliveries.p.poll() is None  # SIGHUP reloaded; it did not restart or stop the worker
