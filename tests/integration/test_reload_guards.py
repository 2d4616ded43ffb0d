"""`syndication partners reload` run carelessly, on real processes (Redis, API, three workers).

- from a shell without SYNDICATION_PARTNERS_FILE, or naming another file than the processes run:
  refused (exit 2, one line naming the processes' file and version), nothing signalled, the
  pending retries of a failing partner stay pending;
- a file that removes every partner: refused without --allow-empty (CLI and SIGHUP alike);
  with it, the processes apply it and cancel the pending deliveries themselves;
- "reload, then backfill over HTTP" for the partner just added: the command returns only once
  the API runs the new file, so the backfill never answers 404; an API that does not catch up
  within --timeout is named (exit 1);
- a process whose own copy of the file is invalid, or differs, is named (exit 1).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import pytest
import requests
import yaml

from tests.conftest import API_KEY, OPS_KEY
from tests.support.events import article_event, post_all
from tests.support.processes import (
    Proc, api, free_port, private_env, redis_server, start_all, stop_all, wait_for, worker)
from tests.support.receiver import Receiver, Reply

OPS = {"Authorization": f"Bearer {OPS_KEY}"}
FAILING = 5  # pending retries of the failing partner


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "syndication.cli", "partners", "reload", *args], env=env,
                          capture_output=True, text=True, timeout=90)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reload-guards")
    receivers = {n: Receiver.start() for n in ("failing", "fresh")}
    receivers["failing"].default = Reply(503)
    redis = redis_server(tmp).start()
    port = free_port()
    partners_file = tmp / "partners.yaml"
    env = private_env(f"redis://127.0.0.1:{redis.port}/0", port, partners_file, "g", SYNDICATION_API_KEYS=API_KEY,
                      SYNDICATION_OPS_KEYS=f"olga:{OPS_KEY}")
    base_partners = [
        # Retries an hour apart: every one stays pending for the whole module unless cancelled.
        {"id": "failing", "url": receivers["failing"].url, "format": "json", "allow_private_network": True,
         "filters": {"categories": ["Failing"]}, "breaker_threshold": 1000,
         "retry": {"base_delay": 3600, "max_delay": 3600}},
    ]

    def write(partners: list[dict]) -> None:
        partners_file.write_text(yaml.safe_dump({"partners": partners}))

    write(base_partners)
    procs = [redis, api(env, tmp, port), worker("events", env, tmp), worker("feeds", env, tmp, concurrency=1),
             worker("deliveries", env, tmp)]
    try:
        start_all(procs[1:])  # cold starts overlap
        from syndication.configuration import load_settings
        from syndication.infra.context import Context

        ctx = Context.build(load_settings(env))
        base = f"http://127.0.0.1:{port}"
        tag = uuid.uuid4().hex[:6]
        _publish(base, [article_event(f"fail-{i}-{tag}", categories=["Failing"]) for i in range(FAILING)] +
                 [article_event(f"fresh-{tag}", categories=["Fresh"])])
        wait_for(lambda: ctx.redis.zcard(ctx.keys.partner_due("failing")) == FAILING, timeout=60,
                 what="every first attempt of the failing partner failed (retries pending)")
        yield {"env": env, "base": base, "ctx": ctx, "write": write, "partners": base_partners,
               "partners_file": partners_file, "receivers": receivers, "procs": procs}
    finally:
        stop_all(procs[1:])  # then the Redis they use
        procs[0].stop()
        for r in receivers.values():
            r.stop()


def _publish(base: str, events: list[dict]) -> None:
    post_all(base, events, API_KEY)


def _version(ctx) -> int:
    return int(ctx.redis.get(ctx.keys.config_version) or 0)


def _failing_still_pending(ctx) -> None:
    """Every retry of the failing partner is still due, and none of its deliveries was cancelled."""
    assert ctx.redis.zcard(ctx.keys.partner_due("failing")) == FAILING
    ids = [i.decode() for i in ctx.redis.zrange(ctx.keys.partner_history("failing"), 0, -1)]
    statuses = {ctx.redis.hget(ctx.keys.delivery(i), "status") for i in ids}
    assert len(ids) == FAILING and b"cancelled" not in statuses, statuses


def test_a_shell_without_the_partners_file_is_refused_and_cancels_nothing(cluster):
    env, ctx = cluster["env"], cluster["ctx"]
    before = _version(ctx)
    bare = {k: v for k, v in env.items() if k != "SYNDICATION_PARTNERS_FILE"}
    out = _cli(bare)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "SYNDICATION_PARTNERS_FILE is not set" in lines[0], out.stderr
    # ... and it says what the processes run: their file and the reload version they report.
    assert str(cluster["partners_file"].resolve()) in lines[0] and f"reload {before}" in lines[0], lines[0]
    assert out.stdout == ""
    assert _version(ctx) == before  # nothing signalled
    _failing_still_pending(ctx)

    # Another file than the processes run (a stale copy without the failing partner): refused too.
    other = cluster["partners_file"].with_name("copy.yaml")
    other.write_text(yaml.safe_dump({"partners": [{"id": "someone", "url": "http://127.0.0.1:7000/in",
                                                   "allow_private_network": True}]}))
    out = _cli({**env, "SYNDICATION_PARTNERS_FILE": str(other)})
    assert out.returncode == 2 and "not a file the processes run" in out.stderr, (out.stdout, out.stderr)
    assert str(cluster["partners_file"].resolve()) in out.stderr
    assert _version(ctx) == before
    _failing_still_pending(ctx)


def test_removing_every_partner_needs_allow_empty(cluster):
    env, ctx = cluster["env"], cluster["ctx"]
    before = _version(ctx)
    cluster["write"]([])
    try:
        out = _cli(env)
        assert out.returncode == 2, (out.stdout, out.stderr)
        assert "leaves no enabled partner" in out.stderr and "--allow-empty" in out.stderr, out.stderr
        assert _version(ctx) == before
        _failing_still_pending(ctx)

        # SIGHUP to a worker (no flag to give there): refused the same way, said in its log.
        deliveries = cluster["procs"][-1]
        os.kill(deliveries.p.pid, signal.SIGHUP)
        wait_for(lambda: b"leaves no enabled partner" in deliveries.log.read_bytes(), timeout=20,
                 what="the worker refusing the SIGHUP reload")
        assert _version(ctx) == before
        _failing_still_pending(ctx)
    finally:
        cluster["write"](cluster["partners"])

    # A file disabling every partner is the same: refused without the flag.
    cluster["write"]([{**cluster["partners"][0], "enabled": False}])
    out = _cli(env)
    assert out.returncode == 2 and "--allow-empty" in out.stderr, (out.stdout, out.stderr)
    _failing_still_pending(ctx)
    cluster["write"](cluster["partners"])


def test_reload_then_backfill_over_http_finds_the_new_partner(cluster):
    """Each round adds a partner, reloads, and backfills it over HTTP the moment the command returns."""
    env, base, ctx = cluster["env"], cluster["base"], cluster["ctx"]
    partners = list(cluster["partners"])
    try:
        for i in range(3):
            pid = f"fresh-{i}"
            partners.append({"id": pid, "url": cluster["receivers"]["fresh"].url, "format": "json",
                             "allow_private_network": True, "filters": {"categories": ["Fresh"]}})
            cluster["write"](partners)
            out = _cli(env)
            resp = requests.post(f"{base}/v1/partners/{pid}/backfill", json={"last": 10}, headers=OPS, timeout=10)
            assert out.returncode == 0, (out.stdout, out.stderr)
            assert resp.status_code == 202, (i, resp.status_code, resp.text, out.stdout)
            assert resp.json()["created"] == 1
            assert f"added: {pid}" in out.stdout and "and 1 API process" in out.stdout, out.stdout
        _failing_still_pending(ctx)  # adding partners cancels nothing
    finally:
        cluster["write"](cluster["partners"])
        assert _cli(env).returncode == 0


def test_the_command_does_not_return_before_the_api_runs_the_new_file(cluster):
    """A stopped API (SIGSTOP: alive, not following) keeps the command waiting; it ends with exit 1
    naming the API, never with "applied" while the API still answers 404 for the new partner."""
    env, ctx, base = cluster["env"], cluster["ctx"], cluster["base"]
    api_proc = cluster["procs"][1]
    cluster["write"]([*cluster["partners"], {"id": "late", "url": cluster["receivers"]["fresh"].url,
                                             "allow_private_network": True, "filters": {"categories": ["Fresh"]}}])
    os.kill(api_proc.p.pid, signal.SIGSTOP)
    try:
        out = _cli(env)  # the default timeout (15 s): longer than a report takes to go stale
    finally:
        os.kill(api_proc.p.pid, signal.SIGCONT)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert "applied by 3 workers and 0 API processes" in out.stdout, out.stdout
    assert "not applied within 15 s by: api@" in out.stderr, out.stderr
    # Resumed, the API catches up by itself.
    wait_for(lambda: requests.post(f"{base}/v1/partners/late/backfill", json={"last": 1}, headers=OPS,
                                   timeout=10).status_code == 202, timeout=15, what="the API knows `late`")

    # --timeout bounds the wait.
    cluster["write"](cluster["partners"])
    os.kill(api_proc.p.pid, signal.SIGSTOP)
    try:
        out = _cli(env, "--timeout", "2")
    finally:
        os.kill(api_proc.p.pid, signal.SIGCONT)
    assert out.returncode == 1 and "not applied within 2 s by: api@" in out.stderr, (out.stdout, out.stderr)
    assert _cli(env).returncode == 0  # caught up: nothing left to wait for
    _failing_still_pending(ctx)


def test_a_process_whose_own_copy_differs_is_named(cluster, tmp_path):
    """Each process applies its own copy: one whose copy is invalid refuses (and keeps running), one
    whose copy differs runs it; the command names either (exit 1) instead of saying "applied"."""
    env, ctx = cluster["env"], cluster["ctx"]
    copy = tmp_path / "partners.yaml"
    copy.write_text(cluster["partners_file"].read_text())
    argv = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "feeds", "-P", "threads", "-c", "1",
            "-n", f"elsewhere-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "-l", "info"]
    other = Proc("worker-elsewhere", argv, {**env, "SYNDICATION_PARTNERS_FILE": str(copy)}, tmp_path,
                 ready=" ready.").start()
    try:
        # Its first heartbeat; its configuration report goes out in the same round (ops/housekeeping.py).
        wait_for(lambda: any(n.startswith(b"elsewhere-") for n in ctx.redis.hkeys(ctx.keys.workers)), timeout=20,
                 what="the other worker's heartbeat")
        copy.write_text("partners:\n  - id: failing\n    url: not a url\n")
        out = _cli(env)
        assert out.returncode == 1, (out.stdout, out.stderr)
        assert "refused by elsewhere-" in out.stderr and "its partners file is invalid" in out.stderr, out.stderr
        assert "applied by 3 workers and 1 API process" in out.stdout, out.stdout

        copy.write_text(yaml.safe_dump({"partners": [{**cluster["partners"][0], "batch_size": 7}]}))
        out = _cli(env)
        assert out.returncode == 1, (out.stdout, out.stderr)
        assert f"elsewhere-{os.getpid()}" in out.stderr and "runs another partners configuration" in out.stderr, \
            out.stderr
        _failing_still_pending(ctx)
    finally:
        other.stop()
    assert _cli(env).returncode == 0  # a process that stopped cleanly is not waited for
