"""Dead events: an event that keeps failing to apply is parked, not retried forever.

    outcome = count_failure(ctx, event_id, exc)   # "failed" (re-driven later) or "dead" (parked)
    dead_events(ctx)                              # parked events, newest first, with their error
    replay_dead(ctx, event_id)                    # back in line after a fix

No poison pills: each failed attempt is counted on the event's record; after
MAX_APPLY_FAILURES it is parked in `events:dead` with its error (visible in `status` and
`/ops`) and no longer re-driven. A failed event stays claimed until its claim runs out
(`event_redrive_after`): a later batch tries again then.
"""

from __future__ import annotations

import logging
import time

from syndication.delivery import notices
from syndication.infra import metrics
from syndication.infra.context import Context
from syndication.infra.keys import EVENT_TTL

log = logging.getLogger("syndication.apply")
MAX_APPLY_FAILURES = 5


def count_failure(ctx: Context, event_id: str, exc: Exception) -> str:
    """Count a failed attempt to apply the event; park it after MAX_APPLY_FAILURES. Returns
    "failed" (the sweeper re-drives it) or "dead"."""
    error = f"{type(exc).__name__}: {exc}"[:500]
    key = ctx.keys.event(event_id)
    failures = ctx.redis.hincrby(key, "failures", 1)
    ctx.redis.hset(key, "last_error", error)
    trace = (type(exc), exc, exc.__traceback__)
    if failures < MAX_APPLY_FAILURES:
        metrics.inc(ctx.redis, ctx.keys, "events_failed", outcome="retry")
        log.warning("event failed to apply; the sweeper re-drives it",
                    extra={"event_id": event_id, "attempt": failures, "outcome": "failed"}, exc_info=trace)
        return "failed"
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.zrem(ctx.keys.events_pending, event_id)
    pipe.zadd(ctx.keys.events_dead, {event_id: time.time()})
    pipe.hset(key, "status", "dead")
    pipe.persist(key)  # a dead event stays until replayed, like a dead letter
    metrics.inc(pipe, ctx.keys, "events_failed", outcome="dead")
    pipe.execute()
    log.error("event parked as dead after %d failed attempts", failures,
              extra={"event_id": event_id, "attempt": failures, "outcome": "dead"}, exc_info=trace)
    notices.notify(ctx, "event.dead", "events", {  # the error's text may quote the article: not sent
        "event_id": event_id, "attempts": failures, "failure": "apply_failed", "error_type": type(exc).__name__},
        message=f"dead event: {event_id} parked after {failures} failed attempts to apply ({error}); "
                f"`syndication events replay {event_id}` after the fix")
    return "dead"


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
