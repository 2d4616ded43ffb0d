"""Isolation (a hanging partner does not slow a healthy one) and durability of scheduled retries."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.faults.harness import API_KEY, Cluster, Stream, kill
from tests.support.processes import wait_for
from tests.support.receiver import Reply

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def _p95_latency(cluster: Cluster, stream: Stream, partner: str, events: set[str]) -> float:
    first_ok: dict[str, float] = {}
    for r in cluster.partners[partner].requests:
        if r.status_sent == 200:
            first_ok.setdefault(json.loads(r.body)["event_id"], r.at)
    lat = sorted(first_ok[e] - stream.truth.accepted[e] for e in events)
    return lat[int(0.95 * (len(lat) - 1))]


def _run(tmp_path, hang: bool) -> tuple[float, int]:
    # Partner b takes every article; in the second run it hangs on every request.
    with Cluster(tmp_path, partner_b={"filters": {"categories": []}}) as cluster:
        if hang:
            cluster.partners["b"].default = Reply(hang=True)
        stream = Stream(cluster, 200, rate=40).start()
        stream.join()
        # Every article's newest version (older ones may be superseded before they are pushed).
        want = {ev["event_id"] for ev in stream.truth.latest.values() if ev["type"] != "article.withdrawn"}

        def a_has_all():
            got = {json.loads(r.body)["event_id"] for r in cluster.partners["a"].requests if r.status_sent == 200}
            return want <= got

        wait_for(a_has_all, timeout=60, what="partner a received every event")
        return _p95_latency(cluster, stream, "a", want), len(stream.truth.accepted)


def test_hanging_partner_does_not_slow_a_healthy_one(tmp_path_factory):
    base, n = _run(tmp_path_factory.mktemp("alone"), hang=False)
    hung, _ = _run(tmp_path_factory.mktemp("hanging"), hang=True)
    print(f"\nisolation: partner a p95 publish-to-push {base * 1000:.0f} ms alone, "
          f"{hung * 1000:.0f} ms beside a hanging partner ({hung / base:.2f}x), {n} events")
    assert hung <= max(1.5 * base, base + 0.05)  # 1.5x, with 50 ms of slack for a very fast baseline


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
        for name in ("events", "feeds", "deliveries", "beat"):
            kill(cluster.procs[name])
        partner.default = Reply()
        assert ctx.redis.zscore(ctx.keys.partner_due("b"), did) is not None  # the schedule is in Redis
        time.sleep(1)
        for name in ("events", "feeds", "deliveries", "beat"):
            cluster.restart(name)
        wait_for(lambda: ctx.redis.hget(ctx.keys.delivery(did), "status") == b"delivered", timeout=60,
                 what="delivered after the restart")
        reqs = [x for x in partner.requests if x.webhook_id == did]
        assert [x.status_sent for x in reqs] == [503, 200]
        assert reqs[1].at - reqs[0].at >= 8  # Retry-After honoured across the crash
