"""Losing a worker host mid-stream: host A finishes the work, B's leases are re-driven, nothing doubles or goes missing.

Two scenarios on the namespaced cluster (cluster.py), each with a steady stream of 20 events/s
(new articles, updates, withdrawals) posted to the API host, pushed to partners a and b on the
bridge (they answer after 0.1 s, so pushes are on the wire when the fault hits):

1. kill -9 every process of worker host B while it holds deliveries under lease; restart B
   once its leases were re-driven, with the stream still running.
2. pull B's cable at the switch for 30 s while it holds leases, killing nothing; plug it back.

Both end with the fault harness's `check`: every event answered 2xx applied, every expected
(article, version, partner) delivered under exactly one webhook-id (a partner that dedupes by
webhook-id sees each once: effective duplicates 0; repeats of a webhook-id are counted as raw
duplicates), nothing in flight or due, feeds equal to a fresh render. On top: B's leases were
re-driven by the sweeper (host A) once they expired, within the lease + sweep + slack bound,
host A delivered while B was gone, and B's workers came back (heartbeats, and its events
worker consuming again: the known Celery trouble of workers that stop consuming after a
reconnect would show here).

Recovery time: from the fault until the last delivery B held was pushed again and answered 2xx
(or, for one a newer version had superseded meanwhile, was taken back from its lease).
"""

from __future__ import annotations

import time

import pytest

from tests.faults.harness import Stream, Timing, check
from tests.scale.cluster import NetCluster, scenario_partners
from tests.scale.conftest import FIGURES
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.scale

RATE = 20.0  # events/s, two senders together
PARTNER_DELAY = 0.1  # each partner answers after this long: pushes are in flight when the fault hits
BOUND = Timing.LEASE + Timing.SWEEP + Timing.SLACK  # a held delivery is pushed again within this
OUTAGE = 30.0  # scenario 2: how long B's cable is out (the issue says 30 s)


def _cluster(tmp_path, network) -> NetCluster:
    receivers = {pid: Receiver.start(network.outside) for pid in ("a", "b")}
    for r in receivers.values():
        r.default = Reply(delay=PARTNER_DELAY)
    return NetCluster(tmp_path, network, scenario_partners(receivers), receivers)


def _redriven(c: NetCluster, held: dict, left: dict, fault_at: float) -> tuple[dict[str, float], float]:
    """B's deliveries among the leases `held` at the fault, and when the last was delivered again.

    A lease the sweeper took back once it expired (left at or after its end) was B's: a push
    of host A's ends long before its lease does. Each is then pushed again (first 2xx with its
    webhook-id after it left) unless a newer version superseded it meanwhile.
    """
    redriven = {did: left[did] for ids in held.values() for did, until in ids.items()
                if did in left and left[did] >= until - 0.25}
    done = []
    for did, at in redriven.items():
        pushed = [r.at for rec in c.partners.values() for r in list(rec.requests)
                  if r.webhook_id == did and r.at >= at and r.status_sent and 200 <= r.status_sent < 300]
        done.append(min(pushed) if pushed else at)
    return redriven, max(done, default=fault_at) - fault_at


def _delivered_between(c: NetCluster, t0: float, t1: float) -> int:
    return sum(1 for rec in c.partners.values() for r in list(rec.requests) if t0 <= r.at < t1 and r.status_sent == 200)


def _tasks_done_since(c: NetCluster, proc_name: str, offset: int) -> int:
    log = c.procs[proc_name].log
    return log.read_bytes()[offset:].count(b"succeeded in")


def _record(name: str, stream: Stream, report, redriven: dict, recovery: float, **extra) -> None:
    FIGURES[name] = {
        "events": stream.sent, "expected": report.expected, "delivered": report.effective,
        "raw_duplicates": report.raw_duplicates, "effective_duplicates": report.effective - report.expected,
        "redriven": len(redriven), "recovery_s": round(recovery, 2), "bound_s": BOUND, **extra}


def test_host_b_killed_mid_stream(network, tmp_path):
    events = int(RATE * 40)
    with _cluster(tmp_path, network) as c:
        stream = Stream(c, events=events, rate=RATE).start()
        stream.wait_answered(int(RATE * 10))
        held, looks = c.freeze_when_holding("b")
        left = c.watch_leases(_snapshot(c, held))
        killed_at = c.kill("b")
        # B stays down until every lease it held has been taken back (and a little longer).
        held_ids = [d for ids in held.values() for d in ids]
        deadline = max(u for ids in held.values() for u in ids.values()) + Timing.SWEEP + Timing.SLACK
        while len([d for d in held_ids if d in left]) < len(held_ids):
            assert time.time() < deadline, f"leases never taken back: {[d for d in held_ids if d not in left]}"
            time.sleep(0.1)
        restart_at = time.time()
        assert stream.sent < stream.total, "the stream ended before B came back: make it longer"
        offset = c.procs["b-events"].log.stat().st_size
        c.start_host("b")
        back_at = c.wait_host_online("b", since=restart_at)
        stream.join()
        report = check(c, stream, "host B killed", fault_end=restart_at)
        redriven, recovery = _redriven(c, held, left, killed_at)
        assert redriven, f"none of the leases held at the kill was B's: {held}"
        assert recovery <= BOUND, f"B's deliveries pushed again {recovery:.1f} s after the kill (bound {BOUND} s)"
        assert _delivered_between(c, killed_at, restart_at) > 0, "host A pushed nothing while B was down"
        assert _tasks_done_since(c, "b-events", offset) > 0, "B's events worker took no task after its restart"
        _record("host B killed (kill -9)", stream, report, redriven, recovery,
                down_s=round(restart_at - killed_at, 1),
                b_back=f"restarted {restart_at - killed_at:.0f} s after the kill, "
                       f"heartbeating {back_at - restart_at:.1f} s later",
                looks=looks)


def test_host_b_link_down_30s(network, tmp_path):
    events = int(RATE * (10 + OUTAGE + 20))
    with _cluster(tmp_path, network) as c:
        b = c.hosts["b"].host
        stream = Stream(c, events=events, rate=RATE).start()
        stream.wait_answered(int(RATE * 10))
        held, looks = c.freeze_when_holding("b")
        left = c.watch_leases(_snapshot(c, held))
        network.unplug(b)
        unplugged_at = time.time()
        c.thaw("b")  # B's processes run on, cut off: nothing is killed
        try:
            time.sleep(OUTAGE)  # the outage itself is the fault being simulated: 30 s, as the issue asks
            assert all(p.p.poll() is None for p in c.hosts["b"].procs), "a process of B died during the outage"
        finally:
            network.plug(b)
        plugged_at = time.time()
        assert stream.sent < stream.total, "the stream ended before B came back: make it longer"
        offset = c.procs["b-events"].log.stat().st_size
        c.wait_host_online("b", since=plugged_at, timeout=60)
        back_at = time.time()
        stream.join()
        report = check(c, stream, "host B's link down", fault_end=plugged_at)
        redriven, recovery = _redriven(c, held, left, unplugged_at)
        assert redriven, f"none of the leases held at the unplug was B's: {held}"
        assert recovery <= BOUND, f"B's deliveries pushed again {recovery:.1f} s after the unplug (bound {BOUND} s)"
        assert unplugged_at + recovery < plugged_at, "B's work was not re-driven while B was away"
        assert _delivered_between(c, unplugged_at, plugged_at) > 0, "host A pushed nothing while B was cut off"
        assert _tasks_done_since(c, "b-events", offset) > 0, "B's events worker took no task after the link came back"
        _record("host B's link down 30 s", stream, report, redriven, recovery,
                down_s=round(plugged_at - unplugged_at, 1),
                b_back=f"heartbeating {back_at - plugged_at:.1f} s after the cable, no restart",
                looks=looks)


def _snapshot(c: NetCluster, held: dict):
    """An InFlight holding just `held`, for the harness's watch_leases."""
    snap = c.in_flight()
    snap.deliveries = held
    return snap
