"""Applying accepted events: article state, then feeds, then deliveries.

    followup = apply_batch(ctx)           # claim up to APPLY_BATCH due events, apply each in turn
    followup = apply_event(ctx, event_id)
    followup.feeds      # feed names whose render must be queued (lock taken)
    followup.partners   # partners with new due deliveries (kick taken)
    followup.events     # non-empty: more events wait, queue another batch (marker taken)

A batch drains `events:pending` the way a push batch drains a partner's due
deliveries: one Celery task applies many events, and the partners they
concern are kicked once per batch, not once per event.

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
from syndication.articles import CasResult
from syndication.delivery import records, schedule
from syndication.feeds import index
from syndication.infra import metrics
from syndication.infra.context import Context
from syndication.infra.keys import EVENT_TTL
from syndication.pipeline import ingest
from syndication.pipeline.followup import FollowUp
from syndication.text import clean_article, xml_safe

log = logging.getLogger("syndication.apply")
MAX_APPLY_FAILURES = 5
APPLY_BATCH = 200  # events per batch: big enough to amortise a task, small enough to spread over threads


def apply_batch(ctx: Context, limit: int = APPLY_BATCH) -> FollowUp:
    """Apply up to `limit` due events (oldest first); one event failing does not stop the others.

    The batch goes through Redis in a handful of round trips (`_apply_together`); an event that
    path cannot take (a body that does not parse, an update or withdrawal that must look at older
    deliveries) and everything after a Redis error are applied one at a time (`apply_or_park`),
    which is the same work, idempotent, with failures counted per event.
    """
    ingest.start_batch(ctx)
    ids = ingest.claim(ctx, limit)
    outcomes: dict[str, int] = {}
    feeds: dict[str, None] = {}
    partners: dict[str, None] = {}
    together: dict[str, FollowUp] = {}
    compared: dict[str, CasResult] = {}
    try:
        _apply_together(ctx, ids, together, compared)
    except Exception:  # Redis trouble mid-batch: each event again on its own, counted per event
        log.warning("batch apply failed; applying its events one at a time", exc_info=True)
        together.clear()
    for event_id in ids:
        follow = together.get(event_id) or apply_or_park(ctx, event_id, kick=False, cas=compared.get(event_id))
        outcomes[follow.outcome] = outcomes.get(follow.outcome, 0) + 1
        feeds.update(dict.fromkeys(follow.feeds))
        partners.update(dict.fromkeys(follow.partners))
    out = FollowUp(outcome=",".join(f"{k}={v}" for k, v in sorted(outcomes.items())) or "none",
                   feeds=list(feeds), partners=schedule.kick(ctx, list(partners)))
    if ids:
        waiting = ingest.due(ctx, limit=1)
        if waiting and ingest.kick(ctx):
            out.events = waiting
    return out


def _apply_together(ctx: Context, ids: list[str], follows: dict[str, FollowUp],
                    compared: dict[str, CasResult]) -> None:
    """Apply the batch's events in five round trips, whatever its size.

    Every event's compare-and-set runs here (`compared`); the events that need nothing more than
    a first version's fan-out are finished here too (`follows`, the batch's feeds to render on the
    first of them). The others (updates and withdrawals, which look at older deliveries, stale
    events, bodies that do not parse) continue one by one from their known compare-and-set.
    """
    if not ids:
        return
    pipe = ctx.redis.pipeline(transaction=False)
    for event_id in ids:
        pipe.hget(ctx.keys.event(event_id), "body")
    now = time.time()
    parsed = []
    for event_id, body in zip(ids, pipe.execute()):
        try:
            event = json.loads(body)
            art = event["article"]
            withdrawn = event["type"] == "article.withdrawn"
            data = None if withdrawn else clean_article(art)
            reason = xml_safe(art.get("reason", "")) if withdrawn else ""
            parsed.append((event_id, event, art["id"], int(art["version"]), data, withdrawn, reason))
        except Exception:  # missing or unparseable: apply_or_park says what and counts it
            continue
    # Compare-and-set every article, in order (two versions of one article in a batch apply in turn).
    pipe = ctx.redis.pipeline(transaction=False)
    for event_id, _, aid, version, data, withdrawn, reason in parsed:
        ctx.articles.queue_apply(pipe, aid, version, data, withdrawn=withdrawn, event_id=event_id, now=now,
                                 reason=reason)
    cas = [ctx.articles.cas_result(raw) for raw in pipe.execute()]
    compared.update({p[0]: c for p, c in zip(parsed, cas)})
    # Only what needs no look at older deliveries goes on together: a first version (nothing older
    # to retire) that is still the article's newest. The rest, one by one.
    fresh = [(p, c) for p, c in zip(parsed, cas) if c.outcome == "applied" and c.previous_version == 0
             and not p[5]]
    if not fresh:
        return
    pipe = ctx.redis.pipeline(transaction=False)
    for (_, _, aid, *_), _ in fresh:
        pipe.hgetall(ctx.keys.article(aid))
    states = [ctx.articles.state_from(p[2], h) for (p, _), h in zip(fresh, pipe.execute())]
    # A newer version landed meanwhile (in this batch, say): its own apply fans out; ours, one by one.
    fresh = [(p, c, st) for (p, c), st in zip(fresh, states) if st is not None and st.version == p[3]]
    if not fresh:
        return
    # Feeds: place each article (idempotent), then one transaction for everything that follows.
    pipe = ctx.redis.pipeline(transaction=False)
    placing = [index.queue_place(ctx, pipe, st) for _, _, st in fresh]
    results = iter(pipe.execute())
    changed = [read(results) for read in placing]
    pipe = ctx.redis.pipeline(transaction=True)
    bumps: dict[str, float] = {}
    for ((event_id, event, aid, version, *_), c, st), names in zip(fresh, changed):
        when = index.change_time(st, event.get("occurred_at"))
        for name in names:
            bumps[name] = max(bumps.get(name, 0.0), when)
        targets = [p.id for p in ctx.settings.partners if p.filters.wants(st.data, ctx.settings.feeds)]
        records.queue_create_many(ctx, pipe, targets, aid, version, event_id, event["type"],
                                  occurred_at=event.get("occurred_at") or "")
        _queue_finish(ctx, pipe, event_id, event, c.outcome, c.previous_version)
        follows[event_id] = FollowUp(outcome=c.outcome, partners=targets)
    for name, when in bumps.items():
        index.queue_bump(ctx, pipe, name, when)
    taken = index.queue_mark_dirty(ctx, pipe, list(bumps))
    render = taken(pipe.execute())
    first = follows[fresh[0][0][0]]
    first.feeds = render
    for event_id, follow in follows.items():
        log.info("event applied", extra={"event_id": event_id, "outcome": follow.outcome})


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
        cas = ctx.articles.apply(
            art["id"], art["version"], None if withdrawn else clean_article(art), withdrawn=withdrawn,
            event_id=event_id, now=now, reason=xml_safe(art.get("reason", "")) if withdrawn else "",
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
        state = ctx.articles.get(art["id"])
        follow.feeds = index.mark_dirty(ctx, index.place(ctx, state, event.get("occurred_at")))
        if state.version == art["version"]:
            targets = fan_out(ctx, state, event, cas.previous_version)
            follow.partners = schedule.kick(ctx, targets) if kick else targets
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
    _queue_finish(ctx, pipe, event_id, event, outcome, previous_version)
    pipe.execute()
    log.info("event %s", "stale" if outcome == "stale" else "applied",
             extra={"event_id": event_id, "article_id": event["article"]["id"], "outcome": outcome})


def _queue_finish(ctx: Context, pipe, event_id: str, event: dict, outcome: str, previous_version: int) -> None:
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
    those partners."""
    if previous_version != 0:  # 0: the article is new here, so no older delivery can exist
        retire_older(ctx, state)
    if state.withdrawn:
        # A withdrawal goes to every partner that has, or may be receiving, an earlier version.
        earlier = {r["partner"] for r in records.for_article(ctx, state.id) if r["version"] < state.version}
        targets = [p.id for p in ctx.settings.partners if p.id in earlier]
    else:
        targets = [p.id for p in ctx.settings.partners if p.filters.wants(state.data, ctx.settings.feeds)]
    records.create_many(ctx, targets, state.id, state.version, event["event_id"], event["type"],
                        occurred_at=event.get("occurred_at") or "")
    return targets


def retire_older(ctx: Context, state) -> None:
    """Pending deliveries of older versions will never be sent: say so now, not at push time."""
    status = records.DeliveryStatus.CANCELLED if state.withdrawn else records.DeliveryStatus.SUPERSEDED
    waiting = {records.DeliveryStatus.PENDING.value, records.DeliveryStatus.RETRYING.value}
    now = time.time()
    pipe = ctx.redis.pipeline(transaction=True)
    for rec in records.for_article(ctx, state.id):
        if rec["version"] < state.version and rec["status"] in waiting:
            records.set_status(pipe, ctx.keys, rec["id"], status, now)
            pipe.zrem(ctx.keys.partner_due(rec["partner"]), rec["id"])
    pipe.execute()
