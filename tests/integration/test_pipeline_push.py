"""Pushing a partner's due deliveries, called in-process against a real Redis and a real partner server.

Specifies delivery/push.py and pipeline/steps.push_batch: a due delivery is
POSTed once, with webhook-id = delivery id and a Standard Webhooks signature
that verifies; the partner's answer decides what happens next (2xx delivered,
503 retried later, 410 parked and the partner disabled, another 4xx a dead
letter); a version the article has moved past is skipped without a request;
and a batch that leaves deliveries due asks for another batch.
"""

from __future__ import annotations

import json
import time

import pytest
import standardwebhooks

from syndication.articles import ArticleStore
from syndication.delivery import circuit, push, records, schedule
from syndication.pipeline import steps
from syndication.text import clean_article
from tests.support.pipeline import WIRE_SECRET, due, due_delivery, inflight, publish, status
from tests.support.events import article_event
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration


def test_a_due_delivery_is_posted_once_with_its_id_and_a_valid_signature(ctx, receiver):
    did = due_delivery(ctx, "wire", "post-1")
    steps.push_batch(ctx, "wire")
    [req] = receiver.requests
    assert req.webhook_id == did
    standardwebhooks.Webhook(WIRE_SECRET).verify(req.body, req.headers)  # raises if the signature is wrong
    assert "post-1" in json.dumps(json.loads(req.body))


def test_a_2xx_marks_the_delivery_delivered_and_records_the_attempt(ctx, receiver):
    did = due_delivery(ctx, "wire", "ok-1")
    follow = steps.push_batch(ctx, "wire")
    assert follow.outcome == "delivered=1" and follow.partners == []
    assert status(ctx, did) == "delivered"
    [attempt] = records.attempts(ctx, did)
    assert (attempt["n"], attempt["status"], attempt["outcome"]) == (1, 200, "success")
    assert due(ctx, "wire") == {} and inflight(ctx, "wire") == {}
    assert ctx.redis.hget(ctx.keys.partner_acked("wire"), "ok-1") == b"1"


def test_a_503_schedules_a_retry_at_a_later_time(ctx, receiver):
    did = due_delivery(ctx, "wire", "retry-1")
    receiver.script([Reply(503, headers={"Retry-After": "120"})])
    t0 = time.time()
    result = push.push_batch(ctx, "wire", clock=lambda: t0)
    assert result.outcomes == {"retry": 1} and not result.more_due
    rec = records.get(ctx, did)
    assert (rec["status"], rec["attempts"], rec["last_status"]) == ("retrying", 1, 503)
    assert due(ctx, "wire") == {did: pytest.approx(rec["next_attempt_at"])}
    assert rec["next_attempt_at"] >= t0 + 120  # Retry-After honoured
    assert schedule.DueSchedule(ctx, "wire").due_count(t0 + 119) == 0 and schedule.DueSchedule(ctx, "wire").due_count(t0 + 121) == 1
    assert inflight(ctx, "wire") == {}


def test_a_retry_is_sent_again_once_it_is_due(ctx, receiver):
    did = due_delivery(ctx, "wire", "retry-2")
    receiver.script([Reply(503, headers={"Retry-After": "60"})])
    t0 = time.time()
    push.push_batch(ctx, "wire", clock=lambda: t0)
    assert push.push_batch(ctx, "wire", clock=lambda: t0 + 30).outcomes == {}  # not due yet
    assert len(receiver.requests) == 1
    assert push.push_batch(ctx, "wire", clock=lambda: t0 + 61).outcomes == {"delivered": 1}
    assert [r.webhook_id for r in receiver.requests] == [did, did]  # same id: the partner can dedupe
    assert status(ctx, did) == "delivered"


def test_a_410_parks_the_delivery_and_disables_the_partner(ctx, receiver):
    did = due_delivery(ctx, "wire", "gone-1")
    receiver.script([410])
    assert push.push_batch(ctx, "wire").outcomes == {"parked": 1}
    assert status(ctx, did) == "parked"
    assert ctx.redis.zscore(ctx.keys.partner_parked("wire"), did) is not None
    assert circuit.health(ctx, "wire")["disabled"]
    later = due_delivery(ctx, "wire", "gone-2")
    assert push.push_batch(ctx, "wire").outcomes == {}  # disabled: nothing more is sent
    assert len(receiver.requests) == 1 and later in due(ctx, "wire")


def test_another_4xx_dead_letters_at_once(ctx, receiver):
    did = due_delivery(ctx, "wire", "dead-1")
    receiver.script([422])
    assert push.push_batch(ctx, "wire").outcomes == {"dead": 1}
    rec = records.get(ctx, did)
    assert (rec["status"], rec["attempts"], rec["last_status"]) == ("dead", 1, 422)
    assert ctx.redis.zscore(ctx.keys.deadletters, did) is not None
    assert due(ctx, "wire") == {} and inflight(ctx, "wire") == {}
    assert not circuit.health(ctx, "wire")["disabled"]


def test_a_version_the_article_moved_past_is_skipped_without_a_request(ctx, receiver):
    did = due_delivery(ctx, "wire", "moved-1", 1)
    v2 = article_event("moved-1", 2)  # applied by another worker; its fan-out has not run yet
    ArticleStore.of(ctx).apply("moved-1", 2, clean_article(v2["article"]), withdrawn=False,
                       event_id=v2["event_id"], now=time.time())
    assert push.push_batch(ctx, "wire").outcomes == {"superseded": 1}
    assert receiver.requests == []
    assert status(ctx, did) == "superseded"
    assert due(ctx, "wire") == {} and inflight(ctx, "wire") == {}


def test_a_version_older_than_one_the_partner_acknowledged_is_skipped(ctx, receiver):
    did = due_delivery(ctx, "wire", "acked-1", 1)
    ctx.redis.hset(ctx.keys.partner_acked("wire"), "acked-1", 3)
    assert push.push_batch(ctx, "wire").outcomes == {"superseded": 1}
    assert receiver.requests == [] and status(ctx, did) == "superseded"


def test_a_batch_that_leaves_deliveries_due_asks_for_another(ctx, receiver):
    ids = [due_delivery(ctx, "wire", f"batch-{i}") for i in range(3)]  # wire sends batches of 2
    follow = steps.push_batch(ctx, "wire")
    assert follow.outcome == "delivered=2" and follow.partners == ["wire"]
    assert ctx.redis.zscore(ctx.keys.partners_ready, "wire") is not None  # a pump takes it again
    assert len(receiver.requests) == 2 and len(due(ctx, "wire")) == 1
    follow = steps.push_batch(ctx, "wire")  # the next batch drains it
    assert follow.outcome == "delivered=1" and follow.partners == []
    assert {r.webhook_id for r in receiver.requests} == set(ids)


def test_a_partner_slower_than_the_lease_gets_each_delivery_once(ctx, receiver, monkeypatch):
    """Leases are renewed on a timer while a request runs: a sweep never hands it to a second push."""
    import threading

    from tests.support.processes import wait_for

    monkeypatch.setattr(schedule, "lease_seconds", lambda partner: 1.0)  # the answer takes 3.5 leases
    did = due_delivery(ctx, "wire", "slow-1")
    receiver.script([Reply(delay=3.5)])
    first = threading.Thread(target=push.push_batch, args=(ctx, "wire"))
    first.start()
    wait_for(lambda: inflight(ctx, "wire"), timeout=5, what="the first batch's claim")
    sweeps = 0
    while first.is_alive():  # the sweeper and other pushes, as often as a busy cluster runs them
        schedule.DueSchedule(ctx, "wire").expire_leases(time.time())
        push.push_batch(ctx, "wire")
        sweeps += 1
        first.join(0.05)
    assert sweeps > 20
    assert [r.webhook_id for r in receiver.requests] == [did]
    assert status(ctx, did) == "delivered" and inflight(ctx, "wire") == {}


def test_the_engine_pushes_what_an_apply_marks_ready_and_stops_when_told(ctx, receiver):
    from syndication.delivery.engine import POP_WAIT, Engine
    from tests.support.processes import wait_for

    engine = Engine(ctx, pushers=2).start()
    try:
        publish(ctx, article_event("pumped-1"))  # Economy: wire and economy
        wait_for(lambda: len(receiver.for_article("pumped-1")) == 2, timeout=10, what="both pushes")
        wait_for(lambda: engine.counts()["deliveries"] == 2, timeout=5, what="the engine's count")
    finally:
        engine.stop(POP_WAIT + 5)
    assert not engine.alive
    assert engine.counts() == {"pushers": 2, "busy": 0, "batches": 2, "deliveries": 2}
    assert ctx.redis.zcard(ctx.keys.partners_ready) == 0 and due(ctx, "wire") == {}


def test_the_engine_has_as_many_pushers_as_the_setting_says(ctx):
    from dataclasses import replace

    from syndication.delivery.engine import Engine

    assert Engine(ctx).size == ctx.settings.delivery_in_flight == 128  # the default, sized for WAN partners
    ctx.publish(replace(ctx.settings, version=ctx.settings.version + 1, delivery_in_flight=300))
    assert Engine(ctx).size == 300
    assert ctx.settings.redis_pool_size > 300


def test_a_redis_that_forgot_our_scripts_still_gets_the_acknowledgement(ctx, receiver):
    """Groups run their scripts by SHA (no SCRIPT EXISTS per group); a restarted Redis knows none."""
    did = due_delivery(ctx, "wire", "noscript-1")
    ctx.redis.script_flush()
    assert push.push_batch(ctx, "wire").outcomes == {"delivered": 1}
    assert status(ctx, did) == "delivered" and inflight(ctx, "wire") == {}
    assert ctx.redis.hget(ctx.keys.partner_acked("wire"), "noscript-1") == b"1"


def test_a_circuit_opening_on_a_redis_that_forgot_our_scripts_still_starts_an_incident(ctx, receiver):
    """The circuit script's answer from its re-run is what tells ops an incident started."""
    from syndication.delivery import notices

    wire = ctx.settings.target("wire")
    ctx.redis.hset(ctx.keys.partner_circuit("wire"), mapping={"failures": wire.breaker_threshold - 1,
                                                               "failing_since": time.time() - 60})
    due_delivery(ctx, "wire", "noscript-open")
    receiver.script([503])
    ctx.redis.script_flush()
    started = time.time()
    assert push.push_batch(ctx, "wire").outcomes == {"retry": 1}
    assert ctx.redis.hget(ctx.keys.partner_circuit("wire"), "state") == b"open"
    opened = [i for i in notices.incidents(ctx, since=started - 120) if i["partner"] == "wire" and i["ended_at"] is None]
    assert opened and opened[0]["last_status"] == "503"


def test_a_batch_keeps_its_settings_snapshot_and_gives_the_rest_back_when_a_reload_publishes_one(ctx, receiver):
    """A push batch runs on the snapshot it pinned; once a reload publishes a newer one, the rest of
    the batch goes back to due (so nothing leaves with an old URL or secret) and the next batches,
    on the new snapshot, send it."""
    from dataclasses import replace

    ids = [due_delivery(ctx, "wire", f"snap-{i}") for i in range(4)]  # 4 due, 2 slots: a batch of 2

    def clock():  # after the first request has gone out, a reload publishes the next snapshot
        if receiver.requests and ctx.settings.version == 0:
            ctx.publish(replace(ctx.settings, version=1))
        return time.time()

    assert push.push_batch(ctx, "wire", clock=clock).outcomes == {"delivered": 1}  # not 2: the rest went back
    assert len(receiver.requests) == 1 and inflight(ctx, "wire") == {} and len(due(ctx, "wire")) == 3
    while due(ctx, "wire"):
        push.push_batch(ctx, "wire")  # on version 1
    assert [status(ctx, did) for did in ids] == ["delivered"] * 4 and len(receiver.requests) == 4
