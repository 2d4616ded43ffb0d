"""Durable timing of deliveries: due-time and lease sorted sets per partner.

`partner:{id}:due` holds every delivery waiting to be sent, scored by the
time it becomes due: new deliveries are due now, retries later. A push
*claims* due ids (push.begin) by moving them to `partner:{id}:inflight`, scored by a lease
deadline, and removes them when it records the outcome. If the worker dies
(kill -9), the lease expires and the sweeper moves the ids back to due: no
delivery waits on Celery's visibility timeout, and none is lost.
(rq's ScheduledJobRegistry/StartedJobRegistry, kept in Redis, not in memory.)
"""

from __future__ import annotations

import time

from syndication.infra.context import Context

# KEYS: due, inflight. ARGV: now. Expired leases go back to due, ready at once.
_EXPIRE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], ARGV[1], id)
end
return #ids
"""


def lease_seconds(partner) -> float:
    """Longer than any one request to the partner (its timeouts) plus its bookkeeping.

    Never capped: a lease shorter than a request in flight hands the same delivery to a
    second worker while the first is still waiting for the answer (the partner gets it
    twice). Recovery after a worker dies therefore takes as long as the partner's timeouts
    allow: 23 s with the defaults.
    """
    return partner.timeouts.connect + partner.timeouts.read + 10.0


def renew(ctx: Context, partner, ids: list[str], now: float) -> None:
    if ids:
        ctx.redis.zadd(ctx.keys.partner_inflight(partner.id),
                       {i: now + lease_seconds(partner) for i in ids}, xx=True)


def release(pipe, keys, partner_id: str, delivery_id: str, *, due_at: float | None = None) -> None:
    """Queue on `pipe`: drop the lease; with `due_at`, schedule the delivery again."""
    pipe.zrem(keys.partner_inflight(partner_id), delivery_id)
    if due_at is not None:
        pipe.zadd(keys.partner_due(partner_id), {delivery_id: due_at})


def expire_leases(ctx: Context, partner_id: str, now: float) -> int:
    return int(ctx.script(_EXPIRE)(
        keys=[ctx.keys.partner_due(partner_id), ctx.keys.partner_inflight(partner_id)], args=[now],
    ))


def due_count(ctx: Context, partner_id: str, now: float) -> int:
    return int(ctx.redis.zcount(ctx.keys.partner_due(partner_id), "-inf", now))


def kick(ctx: Context, partner_ids: list[str]) -> list[str]:
    """Mark partners ready for a delivery engine (delivery/engine.py); return those not already waiting.

    `partners:ready` keeps when each partner first became ready, so engines take the partner
    waiting longest first, and marking it again before one took it changes nothing.
    """
    if not partner_ids:
        return []
    now = time.time()
    pipe = ctx.redis.pipeline(transaction=False)
    for pid in partner_ids:
        pipe.zadd(ctx.keys.partners_ready, {pid: now}, nx=True)
    return [pid for pid, added in zip(partner_ids, pipe.execute()) if added]
