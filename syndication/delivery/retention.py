"""Retention of delivery history: what expires by itself, and the one thing a sweep trims.

Bounded memory with `noeviction` means every key the push path writes either
expires or is bounded. Most of that needs no sweep:

- a finished delivery (delivered, superseded, cancelled, discarded) and its
  attempts get a TTL of `settings.delivery_retention` in the transaction
  that writes the final status (records.set_status(..., ttl=...));
- an article's delivery set gets the same TTL, refreshed on every create;
- dead letters and parked deliveries never expire: they wait for a replay
  (which also clears any TTL) or a discard (which starts one).

What cannot expire by itself is a partner's listing, `partner:{id}:history`
(one sorted set per partner, delivery id -> created-at): `trim` removes its
entries created more than a retention ago, one ZREMRANGEBYSCORE per partner
(cheap: the sweeper calls it every minute). A dead letter older than that
leaves its partner's listing but stays in the dead-letter set, where
`deliveries replay --partner`, `discard` and /ops find it. Counters
(metrics hashes) are never touched.
"""

from __future__ import annotations

import time

from syndication.delivery import records
from syndication.infra.context import Context


def trim(ctx: Context, now: float | None = None) -> int:
    """Drop listing entries created more than a retention ago, for every partner; returns how many."""
    cutoff = (now if now is not None else time.time()) - ctx.settings.delivery_retention
    partners = ctx.settings.targets
    if not partners:
        return 0
    pipe = ctx.redis.pipeline(transaction=False)
    for p in partners:
        records.queue_trim_history(pipe, ctx.keys, p.id, cutoff)
    return sum(pipe.execute())
