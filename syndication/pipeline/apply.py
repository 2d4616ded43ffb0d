"""Applying one accepted event: article state, then feeds, then deliveries.

    followup = apply_event(ctx, event_id)
    followup.feeds      # feed names whose render must be queued (lock taken)
    followup.partners   # partners with new due deliveries (marked ready)

Events arrive in batches (batch.py), which do this same work for many
events at once and hand the rest here.

Every step is idempotent, so a task redelivered after a crash simply runs
again: the article compare-and-set recognises its own event ("replay") and
the feed and delivery steps are redone without effect. The follow-up work
is recorded in Redis (dirty feeds, due deliveries) *before* it is returned,
so if sending the follow-up tasks is lost the sweeper still finds it.

No poison pills: `apply_or_park` counts an event's failed attempts; after
MAX_APPLY_FAILURES it is parked in `events:dead` with its error (visible in
`status` and `/ops`) and no longer re-driven; `replay_dead` puts it back.
"""

from __future__ import annotations

import json
import logging
import time
from syndication.articles import ArticleStore, CasResult
from syndication.delivery import notices, records, schedule
from syndication.feeds import index
from syndication.infra import metrics
from syndication.infra.context import Context
from syndication.infra.keys import EVENT_TTL
from syndication.pipeline import embargo, ingest
from syndication.pipeline.followup import FollowUp
from syndication.text import clean_article, xml_safe

log = logging.getLogger("syndication.apply")
MAX_APPLY_FAILURES = 5


def apply_event(ctx: Context, event_id: str, kick: bool = True, cas: CasResult | None = None) -> FollowUp:
    """Apply one event; `cas`: its compare-and-set already ran (in a batch), continue from its result."""
    event = ingest.load(ctx, event_id)
    if event is None:  # expired or never stored: nothing to do
        ctx.redis.zrem(ctx.keys.events_pending, event_id)
        return FollowUp(outcome="missing")
    art = event["article"]
    withdrawn = event["type"] == "article.withdrawn"
    now = time.time()
    if cas is None:
        cas = ArticleStore.of(ctx).apply(
            art["id"], art["version"], None if withdrawn else clean_article(art), withdrawn=withdrawn,
            event_id=event_id, now=now, reason=xml_safe(art.get("reason", "")) if withdrawn else "",
            event_type=event["type"], occurred_at=event.get("occurred_at") or "",
            log=not embargo.holds(None if withdrawn else art, now),  # held: the log gets it at release
        )
    if cas.outcome == "stale" and ctx.redis.hget(ctx.keys.event(event_id), "status") == b"applied":
        # A late redelivery of an event that was applied before a newer one: its record stands.
        ctx.redis.zrem(ctx.keys.events_pending, event_id)
        return FollowUp(outcome="already_applied")
    follow = FollowUp(outcome=cas.outcome)
    if cas.outcome != "stale":
        # Feeds follow the article as it is now (placing is idempotent, so the last apply wins);
        # deliveries only for this event's own version: if a newer one landed in between, its
        # own apply fans out (and retires ours), and our event must not label its version.
        state = ArticleStore.of(ctx).get(art["id"])
        follow.feeds = index.mark_dirty(ctx, index.place(ctx, state, event.get("occurred_at")))
        if state.version == art["version"]:
            targets = fan_out(ctx, state, event, cas.previous_version)
            follow.partners = schedule.mark_ready(ctx, targets) if kick else targets
    _finish(ctx, event_id, event, cas.outcome, cas.previous_version)
    return follow


def apply_or_park(ctx: Context, event_id: str, kick: bool = True, cas: CasResult | None = None) -> FollowUp:
    """`apply_event`, but an event that keeps failing is parked as a dead event, not retried forever.

    A failed event stays claimed until its claim runs out (`event_redrive_after`): a later batch
    tries again then."""
    try:
        return apply_event(ctx, event_id, kick, cas)
    except Exception as exc:  # any failure: count it, keep the pipeline moving
        error = f"{type(exc).__name__}: {exc}"[:500]
        key = ctx.keys.event(event_id)
        failures = ctx.redis.hincrby(key, "failures", 1)
        ctx.redis.hset(key, "last_error", error)
        if failures < MAX_APPLY_FAILURES:
            metrics.inc(ctx.redis, ctx.keys, "events_failed", outcome="retry")
            log.warning("event failed to apply; the sweeper re-drives it",
                        extra={"event_id": event_id, "attempt": failures, "outcome": "failed"}, exc_info=True)
            return FollowUp(outcome="failed")
        pipe = ctx.redis.pipeline(transaction=True)
        pipe.zrem(ctx.keys.events_pending, event_id)
        pipe.zadd(ctx.keys.events_dead, {event_id: time.time()})
        pipe.hset(key, "status", "dead")
        pipe.persist(key)  # a dead event stays until replayed, like a dead letter
        metrics.inc(pipe, ctx.keys, "events_failed", outcome="dead")
        pipe.execute()
        log.error("event parked as dead after %d failed attempts", failures,
                  extra={"event_id": event_id, "attempt": failures, "outcome": "dead"}, exc_info=True)
        notices.notify(ctx, "event.dead", "events", {  # the error's text may quote the article: not sent
            "event_id": event_id, "attempts": failures, "failure": "apply_failed", "error_type": type(exc).__name__},
            message=f"dead event: {event_id} parked after {failures} failed attempts to apply ({error}); "
                    f"`syndication events replay {event_id}` after the fix")
        return FollowUp(outcome="dead")


def dead_events(ctx: Context, limit: int = 100) -> list[dict]:
    """Parked events, newest first, with their error and failure count."""
    ids = [i.decode() for i in ctx.redis.zrevrange(ctx.keys.events_dead, 0, limit - 1)]
    pipe = ctx.redis.pipeline(transaction=False)
    for event_id in ids:
        pipe.hmget(ctx.keys.event(event_id), "type", "article_id", "version", "failures", "last_error")
    out = []
    for event_id, (typ, article_id, version, failures, error) in zip(ids, pipe.execute()):
        out.append({"event_id": event_id, "type": (typ or b"").decode(), "article_id": (article_id or b"").decode(),
                    "version": int(version or 0), "failures": int(failures or 0),
                    "last_error": (error or b"").decode()})
    return out


def replay_dead(ctx: Context, event_id: str) -> bool:
    """Put a dead event back in line (after a fix): failures reset, re-driven like a new one."""
    if ctx.redis.zrem(ctx.keys.events_dead, event_id) == 0:
        return False
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.hset(ctx.keys.event(event_id), mapping={"status": "accepted", "failures": 0})
    pipe.expire(ctx.keys.event(event_id), EVENT_TTL)
    pipe.zadd(ctx.keys.events_pending, {event_id: 0})  # overdue at once: the next sweep queues it
    pipe.delete(ctx.keys.events_kick)  # ... whatever batch was queued before
    pipe.execute()
    log.info("dead event replayed", extra={"event_id": event_id, "outcome": "replayed"})
    return True


def _finish(ctx: Context, event_id: str, event: dict, outcome: str, previous_version: int) -> None:
    pipe = ctx.redis.pipeline(transaction=True)
    queue_finish(ctx, pipe, event_id, event, outcome, previous_version)
    pipe.execute()
    log.info("event %s", "stale" if outcome == "stale" else "applied",
             extra={"event_id": event_id, "article_id": event["article"]["id"], "outcome": outcome})


def queue_finish(ctx: Context, pipe, event_id: str, event: dict, outcome: str, previous_version: int) -> None:
    status = "stale" if outcome == "stale" else "applied"
    pipe.hset(ctx.keys.event(event_id), mapping={"status": status, "outcome": outcome,
                                                 "previous_version": previous_version})
    pipe.zrem(ctx.keys.events_pending, event_id)
    pipe.lpush(ctx.keys.events_log, json.dumps({
        "event_id": event_id, "type": event["type"], "article_id": event["article"]["id"],
        "version": event["article"]["version"], "outcome": outcome, "at": time.time(),
    }))
    pipe.ltrim(ctx.keys.events_log, 0, 999)
    metrics.inc(pipe, ctx.keys, "events_applied", outcome=outcome)


def fan_out(ctx: Context, state, event: dict, previous_version: int | None = None) -> list[str]:
    """Create one delivery per partner that should hear of this version (one round trip); return
    those partners. A version held by an embargo goes only to `embargo: send` partners now, and
    its release is scheduled (pipeline/embargo.py)."""
    if previous_version != 0:  # 0: the article is new here, so no older delivery can exist
        records.retire(ctx, state.id, state.version, state.withdrawn)
    if state.withdrawn:
        # A withdrawal goes to every partner that has, or may be receiving, an earlier version: one
        # with a delivery record of it, or (records expire with the retention) one that acknowledged it.
        earlier = {r["partner"] for r in records.for_article(ctx, state.id) if r["version"] < state.version}
        pipe = ctx.redis.pipeline(transaction=False)
        pushed = [p for p in ctx.settings.partners if p.pushes]
        for p in pushed:
            pipe.hget(ctx.keys.partner_acked(p.id), state.id)
        acked = {p.id for p, v in zip(pushed, pipe.execute()) if v is not None}
        targets = [p.id for p in pushed if p.id in earlier | acked]
    else:
        targets = ctx.settings.recipients(state.data)
        if embargo.held(state):
            targets = embargo.at_once(ctx, targets)
    records.create_many(ctx, targets, state.id, state.version, event["event_id"], event["type"],
                        occurred_at=event.get("occurred_at") or "", trace=event.get("trace"))
    embargo.track(ctx, state, previous_version)
    return targets

