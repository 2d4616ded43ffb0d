"""Break the running service in eight ways mid-stream; every guarantee must hold at the end.

Each scenario starts its own cluster (redis-server with AOF everysec, API,
one worker per queue, beat, two partners), streams events through
POST /v1/events, injects its fault, and then `check()` verifies the end
state within SETTLE_BOUND seconds. The summary table is printed at the end
(`make faults` runs the full version: 1,200 events per scenario).
"""

from __future__ import annotations

import time

import pytest

from tests.faults.harness import Cluster, Stream, check, kill
from tests.support.receiver import Reply

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def run(tmp_path, n_events, report_rows, name, fault, verify=None, **cluster_kw):
    with Cluster(tmp_path, **cluster_kw) as cluster:
        stream = Stream(cluster, n_events).start()
        fault_end, notes = fault(cluster, stream)
        stream.join()
        report = check(cluster, stream, name, fault_end)
        report.notes = notes or ""
        if stream.truth.unanswered_retries:
            report.notes += f"; client retries: {stream.truth.unanswered_retries}"
        if verify:
            verify(cluster, report)  # while the cluster still runs
        report_rows.append(report)
        return cluster, report


def kill_and_restart(name: str, down: float, note: str):
    """A fault: kill -9 process `name` 40% into the stream, start it again `down` seconds later."""
    def fault(c, s):
        s.wait_sent(0.4)
        kill(c.procs[name])
        time.sleep(down)
        c.restart(name)
        return time.time(), note

    return fault


def test_kill_9_deliveries_worker(tmp_path, n_events, report_rows):
    fault = kill_and_restart("deliveries", 5, "deliveries worker kill -9, restart after 5 s")
    _, report = run(tmp_path, n_events, report_rows, "1 kill -9 deliveries worker", fault)
    assert report.max_recovery < 60


def test_kill_9_events_worker(tmp_path, n_events, report_rows):
    fault = kill_and_restart("events", 5, "events worker kill -9, restart after 5 s")
    _, report = run(tmp_path, n_events, report_rows, "2 kill -9 events worker", fault)
    assert report.max_recovery < 60


def test_redis_restart(tmp_path, n_events, report_rows):
    def fault(c, s):
        s.wait_sent(0.4)
        c.redis.shutdown_nosave()
        time.sleep(1)
        c.redis.start()
        return time.time(), "SHUTDOWN NOSAVE (AOF everysec), start again after 1 s"

    _, report = run(tmp_path, n_events, report_rows, "3 Redis restart", fault)
    assert report.max_recovery < 60


def test_partner_503_storm(tmp_path, n_events, report_rows, full):
    stretch = 20 if full else 8

    def fault(c, s):
        s.wait_sent(0.3)
        c.partners["b"].default = Reply(503)
        started = time.time()
        time.sleep(stretch)
        c.partners["b"].default = Reply()
        c.outage = (started, time.time())
        return time.time(), f"partner b answers 503 for {stretch} s"

    def verify(cluster, report):
        ctx = cluster.ctx
        health = {k.decode(): v.decode() for k, v in ctx.redis.hgetall(ctx.keys.partner_circuit("b")).items()}
        assert int(health.get("opened_count", 0)) >= 1 and health["state"] == "closed"
        failed = [r for r in cluster.partners["b"].requests if r.status_sent == 503]
        # No retry storm: while open, one probe per 5 s cool-down; before it opens, 5 failures per slot.
        bound = 5 * 8 + stretch / 5 + 8
        report.notes += f"; circuit opened {health['opened_count']}x, 503 answers {len(failed)} (bound {bound:.0f})"
        assert len(failed) <= bound

    run(tmp_path, n_events, report_rows, "4 partner 503 storm", fault, verify)


def test_partner_429_with_retry_after(tmp_path, n_events, report_rows):
    def fault(c, s):
        s.wait_sent(0.3)
        c.partners["b"].default = Reply(429, headers={"Retry-After": "2"})
        time.sleep(6)
        c.partners["b"].default = Reply()
        return time.time(), "partner b answers 429 Retry-After: 2 for 6 s"

    cluster, report = run(tmp_path, n_events, report_rows, "5 partner 429 Retry-After", fault)
    reqs = cluster.partners["b"].requests
    by_id: dict[str, list] = {}
    for r in reqs:
        by_id.setdefault(r.webhook_id, []).append(r)
    for attempts in by_id.values():
        for before, after in zip(attempts, attempts[1:]):
            if before.status_sent == 429:
                assert after.at - before.at >= 1.9, "retried before Retry-After"


def test_partner_that_never_answers(tmp_path, n_events, report_rows):
    def fault(c, s):
        s.wait_sent(0.3)
        c.partners["b"].default = Reply(hang=True)
        started = time.time()
        time.sleep(10)
        c.partners["b"].default = Reply()
        c.hang = (started, time.time())
        return time.time(), "partner b accepts and never answers for 10 s"

    cluster, report = run(tmp_path, n_events, report_rows, "6 partner never answers", fault)
    # Partner a kept flowing during the hang: nothing it got waited more than a few seconds.
    start, end = cluster.hang
    a_reqs = [r for r in cluster.partners["a"].requests if start <= r.at <= end]
    assert a_reqs, "partner a received nothing while b hung"


def test_kill_9_api_while_posting(tmp_path, n_events, report_rows):
    fault = kill_and_restart("api", 2, "API kill -9 mid-stream, restart after 2 s; clients retry the same event_id")
    run(tmp_path, n_events, report_rows, "7 kill -9 API", fault)


def test_beat_stopped_then_two_beats(tmp_path, n_events, report_rows):
    def fault(c, s):
        s.wait_sent(0.2)
        c.procs["beat"].stop()  # from now on nothing pumps scheduled retries
        ctx = c.ctx
        c.partners["b"].default = Reply(503)
        waiting = 0
        for _ in range(6):  # retries scheduled while no beat runs
            time.sleep(0.5)
            waiting = max(waiting, ctx.redis.zcard(ctx.keys.partner_due("b")))
        c.partners["b"].default = Reply()
        time.sleep(7)
        c.waiting = waiting
        c.restart("beat")
        extra = c.second_beat()
        c.extra_beat = extra
        before = _sweeps(ctx)
        t0 = time.time()
        time.sleep(8)
        after = _sweeps(ctx)
        rate = (after["ran"] - before["ran"]) / (time.time() - t0)
        c.sweep_rate = rate
        skipped = after["skipped"] - before["skipped"]
        extra.stop()
        return time.time(), (f"beat stopped 10 s (up to {waiting} retries scheduled meanwhile), then two beats for 8 s: "
                             f"{rate:.2f} sweeps/s ran, {skipped:.0f} skipped")

    cluster, _ = run(tmp_path, n_events, report_rows, "8 beat stopped, then two beats", fault)
    assert cluster.waiting > 0  # retries really were late (and check() shows they were not lost)
    assert cluster.sweep_rate <= 1.3  # two beats, one sweep per second between them


def _sweeps(ctx) -> dict:
    raw = ctx.redis.hgetall(f"{ctx.keys.prefix}metrics:sweeps")
    out = {"ran": 0.0, "skipped": 0.0}
    for k, v in raw.items():
        out[k.decode().split("=", 1)[1]] = float(v)
    return out
