"""The partner schedule and the sweeper, called in-process against a real throwaway Redis.

Specifies delivery/schedule.py (claim moves due ids into inflight under a
lease, expire_leases moves expired ones back to due, due_count counts what is
due by a time, kick takes one marker per partner per window) and
pipeline/sweeper.py (it hands back overdue events once per re-drive window,
dirty feeds whose render was lost, feeds never rendered, partners with due
deliveries including those whose lease expired; a second sweep while one
holds the lock is skipped). Times are passed as `now` or set as scores in
Redis: nothing here sleeps.
"""

from __future__ import annotations

import time

import pytest

from syndication.delivery import push, schedule
from syndication.feeds import index
from syndication.pipeline import sweeper
from syndication.pipeline.followup import FollowUp
from tests.support.pipeline import accept, due, inflight
from tests.support.events import article_event

pytestmark = pytest.mark.integration
T = 1_900_000_000.0  # a fixed "now" for the schedule


def wire(ctx):
    return ctx.settings.target("wire")


def feeds_rendered(ctx) -> None:
    """Every feed rendered from its current definition, nothing dirty: a quiet start."""
    for spec in ctx.settings.feeds:
        ctx.redis.hset(ctx.keys.feed_stats(spec.name), "spec_hash", index.spec_hash(spec))


def next_beat(ctx) -> None:
    """The previous sweep's lock has run out (it is held SWEEP_LOCK_MS)."""
    ctx.redis.delete(ctx.keys.sweep_lock)


def claim(ctx, slot: str = "s1") -> list[str]:
    """What a push batch starting at T claims (wire's batch_size is 2)."""
    return push.begin(ctx, wire(ctx), slot, T)[1]


def test_claim_leases_due_ids_and_leaves_future_ones(ctx):
    ctx.redis.zadd(ctx.keys.partner_due("wire"), {"d1": T - 5, "d2": T, "later": T + 60})
    # Two due, two free slots (wire's max_in_flight): each batch takes its share, so they run at once.
    assert claim(ctx) == ["d1"]
    assert ctx.redis.zscore(ctx.keys.partners_ready, "wire") is not None  # another pusher takes the rest
    assert claim(ctx, "s2") == ["d2"]
    lease = T + schedule.lease_seconds(wire(ctx))
    assert inflight(ctx, "wire") == {"d1": lease, "d2": lease}
    assert due(ctx, "wire") == {"later": T + 60}


def test_claim_takes_at_most_the_limit_oldest_first(ctx):
    ctx.redis.zadd(ctx.keys.partner_due("wire"), {"d3": T - 1, "d1": T - 3, "d2": T - 2})
    assert claim(ctx) == ["d1", "d2"]
    assert due(ctx, "wire") == {"d3": T - 1}


def test_an_expired_lease_goes_back_to_due_and_a_live_one_stays(ctx):
    ctx.redis.zadd(ctx.keys.partner_due("wire"), {"d1": T})
    claim(ctx)
    lease_end = T + schedule.lease_seconds(wire(ctx))
    assert schedule.DueSchedule(ctx, "wire").expire_leases(lease_end - 1) == 0
    assert list(inflight(ctx, "wire")) == ["d1"]
    assert schedule.DueSchedule(ctx, "wire").expire_leases(lease_end + 1) == 1
    assert inflight(ctx, "wire") == {} and due(ctx, "wire") == {"d1": lease_end + 1}


def test_a_renewed_lease_outlives_the_first_deadline(ctx):
    ctx.redis.zadd(ctx.keys.partner_due("wire"), {"d1": T})
    claim(ctx)
    schedule.DueSchedule(ctx, "wire").renew(["d1", "never-claimed"], "", T + 20 + schedule.lease_seconds(wire(ctx)))
    assert schedule.DueSchedule(ctx, "wire").expire_leases(T + schedule.lease_seconds(wire(ctx)) + 1) == 0
    assert list(inflight(ctx, "wire")) == ["d1"]  # renew leases only what is held


def test_due_count_counts_only_what_is_due_by_then(ctx):
    ctx.redis.zadd(ctx.keys.partner_due("wire"), {"now": T, "soon": T + 10, "later": T + 100})
    assert [schedule.DueSchedule(ctx, "wire").due_count(t) for t in (T - 1, T, T + 10, T + 100)] == [0, 1, 2, 3]


def test_a_partner_is_marked_ready_once_until_a_pump_takes_it(ctx):
    assert schedule.mark_ready(ctx, ["wire", "economy"]) == ["wire", "economy"]
    first = ctx.redis.zscore(ctx.keys.partners_ready, "wire")
    assert schedule.mark_ready(ctx, ["wire", "sport"]) == ["sport"]
    assert ctx.redis.zscore(ctx.keys.partners_ready, "wire") == first  # waits in its first place
    # Pumps take the partners waiting longest first (sport came last).
    assert [ctx.redis.bzpopmin(ctx.keys.partners_ready, timeout=1)[1] for _ in range(2)] == [b"economy", b"wire"]
    assert schedule.mark_ready(ctx, ["wire"]) == ["wire"]


def test_sweep_redrives_an_overdue_event_once_per_window(ctx):
    feeds_rendered(ctx)
    accept(ctx, article_event("late-1"))
    ctx.redis.delete(ctx.keys.events_kick)  # a batch started meanwhile (it claimed nothing yet)
    accept(ctx, article_event("fresh-1"))  # ... and this one queued the next
    ctx.redis.zadd(ctx.keys.events_pending, {"evt-late-1-v1": time.time() - 60})  # no batch took it
    ctx.redis.set(ctx.keys.events_kick, time.time() - 60)  # the batch queued for it was lost
    assert sweeper.sweep(ctx).events == ["evt-late-1-v1"]
    next_beat(ctx)
    assert sweeper.sweep(ctx).events == []  # one batch queued: not again until the window passes
    ctx.redis.set(ctx.keys.events_kick, time.time() - 31)
    next_beat(ctx)
    assert sweeper.sweep(ctx).events == ["evt-late-1-v1"]


def test_sweep_leaves_fresh_events_to_the_batch_they_queued(ctx):
    feeds_rendered(ctx)
    accept(ctx, article_event("fresh-2"))
    assert sweeper.sweep(ctx).events == []


def test_sweep_requeues_a_dirty_feed_whose_render_was_lost(ctx):
    feeds_rendered(ctx)
    ctx.redis.zadd(ctx.keys.feeds_dirty, {"economy": time.time()})  # dirty, and no render lock
    follow = sweeper.sweep(ctx)
    assert follow.feeds == ["economy"] and ctx.redis.exists(ctx.keys.feed_render_lock("economy"))
    next_beat(ctx)
    assert sweeper.sweep(ctx).feeds == []  # its render is queued now


def test_sweep_renders_feeds_never_rendered_or_redefined(ctx):
    feeds_rendered(ctx)
    ctx.redis.hdel(ctx.keys.feed_stats("all"), "spec_hash")
    ctx.redis.hset(ctx.keys.feed_stats("sport"), "spec_hash", "an-older-definition")
    assert sweeper.sweep(ctx).feeds == ["all", "sport"]


def test_sweep_kicks_each_partner_with_due_deliveries_once(ctx):
    feeds_rendered(ctx)
    now = time.time()
    ctx.redis.zadd(ctx.keys.partner_due("wire"), {"d-now": now - 1})
    ctx.redis.zadd(ctx.keys.partner_due("economy"), {"d-later": now + 60})  # a retry, not yet due
    follow = sweeper.sweep(ctx, now=now)
    assert follow.partners == ["wire"] and follow.outcome == "ran"
    next_beat(ctx)
    assert sweeper.sweep(ctx, now=now).partners == []  # its push is already queued (kick taken)


def test_sweep_returns_expired_leases_to_due_and_kicks_their_partner(ctx):
    feeds_rendered(ctx)
    now = time.time()
    ctx.redis.zadd(ctx.keys.partner_inflight("sport"), {"d-orphan": now - 1, "d-held": now + 30})
    follow = sweeper.sweep(ctx, now=now)
    assert follow.partners == ["sport"]
    assert due(ctx, "sport") == {"d-orphan": now} and list(inflight(ctx, "sport")) == ["d-held"]


def test_a_sweep_takes_the_sweep_lock(ctx):
    feeds_rendered(ctx)
    assert sweeper.sweep(ctx).outcome == "ran"
    assert 0 < ctx.redis.pttl(ctx.keys.sweep_lock) <= sweeper.SWEEP_LOCK_MS


def test_a_sweep_while_another_holds_the_lock_is_skipped(ctx):
    feeds_rendered(ctx)
    ctx.redis.set(ctx.keys.sweep_lock, 1, px=60_000)  # another beat's sweep is running
    ctx.redis.zadd(ctx.keys.partner_due("wire"), {"d-now": time.time() - 1})
    assert sweeper.sweep(ctx) == FollowUp(outcome="skipped")
    assert ctx.redis.zscore(ctx.keys.partners_ready, "wire") is None  # left for the sweep that runs
