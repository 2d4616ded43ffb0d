"""Isolation (a hanging partner does not slow a healthy one) and durability of scheduled retries.

Isolation is measured on two clusters running side by side, at the same time, on the same
kind of stream (1,000 articles published once each, so every event is one push to partner
a). In both, partner b wants every article, so each event fans out to two deliveries; in
one, b is paused (its deliveries wait in Redis, nothing is sent to it: partner a is alone
on the wire), in the other b hangs on every request. The one difference is the hanging
partner. Run together, both see the same machine (other test runs share these 2 cores), so
the ratio measures the hanging partner, not the neighbours.
Partner a's p99 publish-to-push latency may grow by at most 25%, its throughput drop by at
most 10%. The rate stays below what one cluster pushes to one partner here (about 40/s with
both clusters running), so latencies measure the service, not a queue growing without end.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
import requests

from syndication.delivery import circuit
from tests.faults.harness import API_KEY, Cluster, Stream, Timing as T, kill, parallel
from tests.support.processes import wait_for
from tests.support.receiver import Reply

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ISOLATION_EVENTS, ISOLATION_RATE = 1000, 20.0


@dataclass
class Healthy:
    p50: float
    p99: float
    throughput: float  # pushes to partner a per second, first 202 to last push
    n: int


def _measure(tmp_path, hang: bool) -> tuple[Healthy, str]:
    # Partner b wants every article. Alone: b is paused. Beside: b never answers.
    with Cluster(tmp_path, partner_b={"filters": {"categories": []}}) as cluster:
        if hang:
            cluster.partners["b"].default = Reply(hang=True)
        else:
            circuit.pause(cluster.ctx, "b")
        stream = Stream(cluster, ISOLATION_EVENTS, ISOLATION_RATE, versions=False).start()
        stream.join()
        want = set(stream.answers)

        def arrivals():
            out = {}
            for r in list(cluster.partners["a"].requests):
                if r.status_sent == 200:
                    out.setdefault(json.loads(r.body)["event_id"], r.at)
            return out if want <= set(out) else None

        got = wait_for(arrivals, timeout=120, interval=0.2, what="partner a received every event")
        lat = sorted(got[e] - stream.answers[e].at for e in want)
        first = min(a.at for a in stream.answers.values())
        healthy = Healthy(lat[len(lat) // 2], lat[int(0.99 * (len(lat) - 1))],
                          len(want) / (max(got.values()) - first), len(want))
        note = ""
        if hang:
            hung = [r for r in cluster.partners["b"].requests if r.status_sent is None]
            assert hung, "partner b was never asked anything"
            state = cluster.ctx.redis.hget(cluster.ctx.keys.partner_circuit("b"), "state")
            note = f"; b: {len(hung)} requests hung, circuit {state.decode() if state else 'closed'}"
        else:
            assert not cluster.partners["b"].requests, "partner b was paused"
            assert cluster.ctx.redis.zcard(cluster.ctx.keys.partner_due("b")) == len(want)  # waiting, unsent
        return healthy, note


def test_hanging_partner_does_not_slow_a_healthy_one(tmp_path_factory):
    results: dict[bool, tuple[Healthy, str]] = {}
    dirs = {False: tmp_path_factory.mktemp("alone"), True: tmp_path_factory.mktemp("hanging")}  # not thread-safe

    def measure(hang: bool) -> None:
        results[hang] = _measure(dirs[hang], hang)

    parallel([lambda: measure(False), lambda: measure(True)])
    (alone, _), (beside, note) = results[False], results[True]
    p99, thr = beside.p99 / alone.p99, beside.throughput / alone.throughput
    print(f"\nisolation, {alone.n} events at {ISOLATION_RATE:.0f}/s: partner a p99 publish-to-push "
          f"{alone.p99 * 1000:.0f} ms alone, {beside.p99 * 1000:.0f} ms beside a hanging partner ({p99:.2f}x); "
          f"p50 {alone.p50 * 1000:.0f} / {beside.p50 * 1000:.0f} ms; throughput {alone.throughput:.0f}/s alone, "
          f"{beside.throughput:.0f}/s beside ({thr:.2f}x){note}")
    # Ratio 1.25, or within 20 ms: on a shared 2-core machine the two clusters' p99s (tens of ms)
    # move by a scheduler time slice or two on their own; a partner that took the healthy one's
    # slots would cost whole timeouts (seconds), far past either bound.
    assert p99 <= 1.25 or beside.p99 - alone.p99 <= 0.020, (
        f"p99 {beside.p99 * 1000:.0f} ms beside a hanging partner, {alone.p99 * 1000:.0f} ms alone")
    assert thr >= 0.9, f"throughput {beside.throughput:.0f}/s beside a hanging partner, {alone.throughput:.0f}/s alone"


def test_scheduled_retry_survives_kill_9_of_every_worker(tmp_path):
    with Cluster(tmp_path) as cluster:
        partner = cluster.partners["b"]
        partner.default = Reply(503, headers={"Retry-After": "8"})
        event = {"event_id": "durable-1", "type": "article.published", "occurred_at": "2026-11-25T10:00:00Z",
                 "article": {"id": "durable", "version": 1, "url": "https://news.example/durable",
                             "language": "en", "headline": "Durable", "categories": ["Economy"],
                             "published_at": "2026-11-25T10:00:00Z"}}
        r = requests.post(f"{cluster.api_url}/v1/events", data=json.dumps(event), timeout=5,
                          headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
        assert r.status_code == 202
        ctx = cluster.ctx
        from syndication.delivery.records import delivery_id

        did = delivery_id("durable", 1, "b")
        wait_for(lambda: ctx.redis.hget(ctx.keys.delivery(did), "status") == b"retrying", what="retry scheduled")
        for name in ("events", "feeds", "deliveries"):
            kill(cluster.procs[name])
        partner.default = Reply()
        assert ctx.redis.zscore(ctx.keys.partner_due("b"), did) is not None  # the schedule is in Redis
        time.sleep(1)  # everything stays down a moment
        for name in ("events", "feeds", "deliveries"):
            cluster.restart(name)
        restarted = time.time()
        wait_for(lambda: ctx.redis.hget(ctx.keys.delivery(did), "status") == b"delivered", timeout=60,
                 what="delivered after the restart")
        reqs = [x for x in partner.requests if x.webhook_id == did]
        assert [x.status_sent for x in reqs] == [503, 200]
        assert reqs[1].at - reqs[0].at >= 8  # Retry-After honoured across the crash
        # ...and not much later: once due (and everything is back), within a sweep plus the slack.
        late = reqs[1].at - max(reqs[0].at + 8, restarted)
        assert late <= T.SWEEP + T.SLACK, f"sent {late:.1f} s after it was due"
