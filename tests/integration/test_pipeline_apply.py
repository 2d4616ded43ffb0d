"""Accepting and applying events, called in-process against a real throwaway Redis.

Specifies pipeline/ingest.py and pipeline/apply.py: an accepted event is
durable before it is handed on; a repeat is not stored twice; a newer version
is applied, a stale one changes nothing, a redelivery is recognised as a
replay and its follow-up is redone; fan-out makes one delivery (stable id) per
partner that wants the version, retires pending older deliveries, sends a
withdrawal only to partners that had an earlier version; and the FollowUp
names the feeds to render (render lock taken) and partners to push (kick taken).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from syndication.articles import ArticleStore
from syndication.delivery import lifecycle, records
from syndication.events import parse_event
from syndication.infra.redis_client import aconnect_settings
from syndication.pipeline import apply, batch, ingest
from syndication.pipeline.followup import FollowUp
from tests.support.pipeline import FEEDS, PARTNERS, accept, due, publish, status
from tests.support.events import article_event, withdrawal

pytestmark = pytest.mark.integration


def test_an_accepted_event_is_stored_before_it_is_enqueued(ctx):
    event = article_event("acc-1")
    seen = []

    def enqueue(follow: FollowUp) -> None:  # what is in Redis at the moment of the enqueue
        seen.append((follow, ingest.load(ctx, "evt-acc-1-v1"),
                     ctx.redis.zscore(ctx.keys.events_pending, "evt-acc-1-v1")))

    accepted = ingest.accept(ctx, json.dumps(event).encode(), enqueue)
    assert accepted.created and accepted.event_id == "evt-acc-1-v1"
    [(follow, stored, pending)] = seen
    assert follow == FollowUp(events=["evt-acc-1-v1"])
    assert stored["article"]["headline"] == "Headline acc-1 v1" and pending is not None


def test_a_repeated_event_id_is_requeued_while_still_accepted_and_not_stored_again(ctx):
    accept(ctx, article_event("rep-1", event_id="evt-rep"))
    sent = accept(ctx, article_event("rep-1", event_id="evt-rep", headline="Changed on retry"))
    assert sent == [FollowUp(events=["evt-rep"])]  # the first enqueue may have been lost
    assert ingest.load(ctx, "evt-rep")["article"]["headline"] == "Headline rep-1 v1"


def test_accept_stores_on_a_redis_that_forgot_the_store_script(ctx):
    """A restarted Redis, or a failover's new primary, answers NOSCRIPT: both clients (the sync one
    of workers and tools, the asyncio one of the API) load the script and store the event once."""
    ctx.redis.script_flush()
    assert accept(ctx, article_event("noscript-sync")) == [FollowUp(events=["evt-noscript-sync-v1"])]
    ctx.redis.script_flush()

    async def post():
        client = aconnect_settings(ctx.settings)
        try:
            queued = []

            async def enqueue(follow):
                queued.append(follow)

            event = parse_event(json.dumps(article_event("noscript-async")).encode())
            return await ingest.accept_async(ctx, client, event, enqueue), queued
        finally:
            await client.aclose()

    accepted, queued = asyncio.run(post())
    assert accepted.created and queued == []  # the sync accept's batch marker is still taken
    assert ingest.load(ctx, "evt-noscript-async-v1")["article"]["id"] == "noscript-async"
    assert set(ingest.due(ctx)) == {"evt-noscript-sync-v1", "evt-noscript-async-v1"}


def test_a_repeat_of_an_applied_event_is_not_requeued(ctx):
    publish(ctx, article_event("rep-2", event_id="evt-rep2"))
    again = ingest.accept(ctx, json.dumps(article_event("rep-2", event_id="evt-rep2")).encode(),
                          lambda f: pytest.fail(f"re-enqueued an applied event: {f}"))
    assert not again.created


def test_a_newer_version_is_applied(ctx):
    publish(ctx, article_event("new-1", 1))
    follow = publish(ctx, article_event("new-1", 2))
    assert follow.outcome == "applied"
    state = ArticleStore.of(ctx).get("new-1")
    assert (state.version, state.data["headline"]) == (2, "Headline new-1 v2")
    assert ctx.redis.hget(ctx.keys.event("evt-new-1-v2"), "status") == b"applied"
    assert ctx.redis.zscore(ctx.keys.events_pending, "evt-new-1-v2") is None


def test_a_stale_version_changes_nothing(ctx):
    publish(ctx, article_event("stale-1", 2))
    ctx.redis.delete(ctx.keys.partners_ready,  # v2's push and render have run
                     *[ctx.keys.feed_render_lock(f["name"]) for f in FEEDS])
    follow = publish(ctx, article_event("stale-1", 1))
    assert follow == FollowUp(outcome="stale")
    assert ArticleStore.of(ctx).get("stale-1").data["headline"] == "Headline stale-1 v2"
    assert {r["version"] for r in records.for_article(ctx, "stale-1")} == {2}
    assert ctx.redis.hget(ctx.keys.event("evt-stale-1-v1"), "status") == b"stale"
    assert ctx.redis.zscore(ctx.keys.events_pending, "evt-stale-1-v1") is None


def test_the_same_version_from_another_event_is_stale(ctx):
    publish(ctx, article_event("same-1", 1, event_id="evt-first"))
    assert publish(ctx, article_event("same-1", 1, event_id="evt-second", headline="Other")).outcome == "stale"
    assert ArticleStore.of(ctx).get("same-1").data["headline"] == "Headline same-1 v1"


def test_a_redelivered_event_is_a_replay_and_redoes_the_lost_follow_up(ctx, monkeypatch):
    accept(ctx, article_event("crash-1"))

    def crash(*args):
        raise RuntimeError("worker died after the article compare-and-set")

    monkeypatch.setattr(apply, "fan_out", crash)
    with pytest.raises(RuntimeError):
        apply.apply_event(ctx, "evt-crash-1-v1")
    assert ArticleStore.of(ctx).get("crash-1").version == 1 and records.for_article(ctx, "crash-1") == []
    monkeypatch.undo()
    follow = apply.apply_event(ctx, "evt-crash-1-v1")  # the task, redelivered
    assert follow.outcome == "replay"
    assert {r["partner"] for r in records.for_article(ctx, "crash-1")} == {"wire", "economy"}
    assert follow.partners == ["wire", "economy"]
    assert ctx.redis.zscore(ctx.keys.events_pending, "evt-crash-1-v1") is None


def test_fan_out_creates_one_delivery_per_matching_partner(ctx):
    publish(ctx, article_event("fan-1"))  # category Economy: wire and economy, not sport
    recs = {r["partner"]: r for r in records.for_article(ctx, "fan-1")}
    assert set(recs) == {"wire", "economy"}
    for partner, rec in recs.items():
        assert rec["id"] == records.delivery_id("fan-1", 1, partner)
        assert (rec["version"], rec["status"], rec["event_id"]) == (1, "pending", "evt-fan-1-v1")
        assert rec["id"] in due(ctx, partner)
    assert due(ctx, "sport") == {}


def test_reapplying_an_event_keeps_the_same_deliveries(ctx):
    publish(ctx, article_event("stable-1"))
    before = sorted(r["id"] for r in records.for_article(ctx, "stable-1"))
    assert apply.apply_event(ctx, "evt-stable-1-v1").outcome == "replay"
    assert sorted(r["id"] for r in records.for_article(ctx, "stable-1")) == before
    assert len(due(ctx, "wire")) == 1


def test_a_newer_version_supersedes_pending_older_deliveries(ctx):
    publish(ctx, article_event("sup-1", 1))
    publish(ctx, article_event("sup-1", 2))
    for partner in ("wire", "economy"):
        old, new = records.delivery_id("sup-1", 1, partner), records.delivery_id("sup-1", 2, partner)
        assert (status(ctx, old), status(ctx, new)) == ("superseded", "pending")
        assert set(due(ctx, partner)) == {new}


def test_a_withdrawal_goes_only_to_partners_that_had_an_earlier_version(ctx):
    publish(ctx, article_event("wd-1", 1))  # wire and economy; sport never heard of it
    publish(ctx, withdrawal("wd-1", 2))
    v2 = {r["partner"]: r for r in records.for_article(ctx, "wd-1") if r["version"] == 2}
    assert set(v2) == {"wire", "economy"}
    assert all(r["id"] in due(ctx, p) for p, r in v2.items()) and due(ctx, "sport") == {}
    assert {r["event_type"] for r in v2.values()} == {"article.withdrawn"}
    assert ArticleStore.of(ctx).get("wd-1").withdrawn


def test_a_withdrawal_cancels_pending_deliveries_and_leaves_delivered_ones(ctx):
    publish(ctx, article_event("wd-2", 1))
    sent = records.delivery_id("wd-2", 1, "wire")
    pipe = ctx.redis.pipeline()
    records.set_status(pipe, ctx.keys, sent, lifecycle.SEND, records.DeliveryStatus.PENDING,
                       records.DeliveryStatus.DELIVERED, 0.0)
    pipe.zrem(ctx.keys.partner_due("wire"), sent)
    pipe.execute()
    publish(ctx, withdrawal("wd-2", 2))
    waiting = records.delivery_id("wd-2", 1, "economy")
    assert (status(ctx, sent), status(ctx, waiting)) == ("delivered", "cancelled")
    assert waiting not in due(ctx, "economy")


def test_changed_feeds_are_returned_once_with_their_render_lock_taken(ctx):
    follow = publish(ctx, article_event("feed-1"))
    assert follow.feeds == ["all", "economy"]
    for name in follow.feeds:
        assert ctx.redis.exists(ctx.keys.feed_render_lock(name))
        assert ctx.redis.zscore(ctx.keys.feeds_dirty, name) is not None
    assert publish(ctx, article_event("feed-2")).feeds == []  # a render is already queued: it coalesces


def test_partners_are_marked_ready_once_until_a_pump_takes_them(ctx):
    assert publish(ctx, article_event("kick-1")).partners == ["wire", "economy"]
    assert {m.decode() for m in ctx.redis.zrange(ctx.keys.partners_ready, 0, -1)} == {"wire", "economy"}
    follow = publish(ctx, article_event("kick-2"))
    assert follow.partners == [] and follow.outcome == "applied"
    assert len(due(ctx, "wire")) == 2  # the pump that takes wire will find both


def test_an_expired_event_is_dropped_from_pending(ctx):
    accept(ctx, article_event("gone-1"))
    ctx.redis.delete(ctx.keys.event("evt-gone-1-v1"))  # past its TTL
    assert apply.apply_event(ctx, "evt-gone-1-v1") == FollowUp(outcome="missing")
    assert ctx.redis.zscore(ctx.keys.events_pending, "evt-gone-1-v1") is None


def test_a_late_redelivery_of_an_applied_event_leaves_its_record_alone(ctx):
    publish(ctx, article_event("late-1", 1))
    publish(ctx, article_event("late-1", 2))
    apply.apply_event(ctx, "evt-late-1-v1")  # v1's task, redelivered after v2 was applied
    assert ctx.redis.hget(ctx.keys.event("evt-late-1-v1"), "status") == b"applied"
    logged = [json.loads(e)["outcome"] for e in ctx.redis.lrange(ctx.keys.events_log, 0, -1)
              if json.loads(e)["event_id"] == "evt-late-1-v1"]
    assert logged == ["applied"]


def test_a_batch_ends_where_applying_its_events_one_at_a_time_ends(ctx):
    """A burst mixes new articles, two versions of one article, an update, a withdrawal and a body
    that does not parse: the batch's fast path and its one-by-one path must add up to the same."""
    publish(ctx, article_event("b-old"))
    publish(ctx, article_event("b-gone"))
    burst = [article_event("b-new"), article_event("b-two", 1), article_event("b-two", 2),
             article_event("b-old", 2), withdrawal("b-gone", 2), article_event("b-broken")]
    for ev in burst:
        accept(ctx, ev)
    ctx.redis.hset(ctx.keys.event("evt-b-broken-v1"), "body", "{not json")
    ctx.redis.delete(ctx.keys.partners_ready)  # pumps took the earlier pushes
    follow = batch.apply_batch(ctx)
    assert sorted(follow.outcome.split(",")) == ["applied=5", "failed=1"]
    assert sorted(follow.partners) == ["economy", "wire"]
    assert {n.decode() for n in ctx.redis.zrange(ctx.keys.feeds_dirty, 0, -1)} == {"all", "economy"}
    states = {a: ArticleStore.of(ctx).get(a) for a in ("b-new", "b-two", "b-old", "b-gone")}
    assert {a: (s.version, s.withdrawn) for a, s in states.items()} == {
        "b-new": (1, False), "b-two": (2, False), "b-old": (2, False), "b-gone": (2, True)}
    for ev in burst[:-1]:
        assert ctx.redis.hget(ctx.keys.event(ev["event_id"]), "status") == b"applied", ev["event_id"]
    assert ctx.redis.hget(ctx.keys.event("evt-b-broken-v1"), "failures") == b"1"
    waiting = {records.DeliveryStatus.PENDING.value, records.DeliveryStatus.RETRYING.value}

    def live(aid):
        return sorted((r["partner"], r["version"]) for r in records.for_article(ctx, aid) if r["status"] in waiting)

    assert live("b-new") == [("economy", 1), ("wire", 1)]
    assert live("b-two") == [("economy", 2), ("wire", 2)]  # v1 was overtaken inside the batch
    assert live("b-old") == [("economy", 2), ("wire", 2)]  # v1's retired
    assert sorted(r["event_type"] for r in records.for_article(ctx, "b-gone") if r["status"] in waiting) == [
        "article.withdrawn", "article.withdrawn"]
    assert ingest.due(ctx) == []  # all taken: the broken one waits for its claim to run out
