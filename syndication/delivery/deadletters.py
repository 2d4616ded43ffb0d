"""Dead letters and replay: deliveries we gave up on, and putting any delivery back in line.

A delivery becomes a dead letter after a permanent failure (a 4xx), after
its retry budget (max attempts or max age) runs out, or when our address
guard refuses the partner URL. It keeps every attempt. A replay keeps the
delivery id (so the partner can still dedupe), keeps the attempt history,
and starts a fresh retry budget. The beat sweeper picks replayed
deliveries up within a second; nothing here needs Celery.

    ids = select(ctx, partner="kazinform", since=t0)       # dead letters of one partner
    replay(ctx, ids)                                        # back to due, now
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from syndication.infra.context import Context
from syndication.delivery import records


@dataclass
class ReplayResult:
    replayed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def select(ctx: Context, *, partner: str | None = None, since: float | None = None,
           until: float | None = None) -> list[str]:
    """Dead-letter ids, oldest first, by partner and/or time of death."""
    ids = [i.decode() for i in ctx.redis.zrangebyscore(
        ctx.keys.deadletters, since if since is not None else "-inf", until if until is not None else "+inf")]
    if partner:
        recs = records.get_many(ctx, ids)
        ids = [r["id"] for r in recs if r["partner"] == partner]
    return ids


def replay_one(ctx: Context, did: str, now: float | None = None) -> bool:
    rec = records.get(ctx, did)
    if rec is None:
        return False
    now = now or time.time()
    k = ctx.keys
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.hset(k.delivery(did), mapping={
        "status": records.DeliveryStatus.PENDING.value, "updated_at": now, "next_attempt_at": now,
        "attempts_base": rec.get("attempts", 0), "replayed_at": now,
    })
    pipe.hincrby(k.delivery(did), "replays", 1)
    pipe.zrem(k.deadletters, did)
    pipe.zrem(k.partner_parked(rec["partner"]), did)
    pipe.zadd(k.partner_due(rec["partner"]), {did: now})
    pipe.execute()
    return True


def replay(ctx: Context, ids: list[str], progress=None) -> ReplayResult:
    """Replay each id; `progress(n)` is called after each one (for a progress bar)."""
    out = ReplayResult()
    for did in ids:
        (out.replayed if replay_one(ctx, did) else out.unknown).append(did)
        if progress:
            progress(1)
    return out
