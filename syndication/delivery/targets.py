"""Where a target id's deliveries go: the one resolver of targets, and the index of the hub's busy ones.

    resolve(ctx, ids)          [Target | None, ...]: partners' and system targets from the settings,
                               our WebSub hub's subscribers from their records (one round trip a wave)
    queue_busy(pipe, keys, ids, now)   subscriber targets that got work (the sweeper must pump them)
    sweep_busy(ctx, now)       the busy subscribers with deliveries due (leases expired handed back);
                               those with nothing left leave the index, their leftovers with them

Partners and system targets are few and come from the settings; a subscriber of our own hub is a
target too (its own circuit, slots, history and isolation: a hanging subscriber delays nobody),
built from its subscription record (delivery/subscriptions.py), and there may be thousands. So
the sweeper does not walk them every second: it walks `websub:busy`, the subscribers with work.

A subscriber whose record is gone (unsubscribed, expired) still resolves, to a target no request
ever reaches: its waiting deliveries are loaded, found without a live subscription and closed
(delivery/hub.py), so nothing waits for a target that will not come back.
"""

from __future__ import annotations

from functools import lru_cache

from syndication.delivery import circuit, records, subscriptions
from syndication.delivery.schedule import DueSchedule
from syndication.infra.context import Context
from syndication.partners.target import Target, is_subscriber

GONE_URL = "http://gone.invalid/"  # a subscriber without a record: never sent to (see above)
BUSY_GRACE = 5.0  # seconds a busy subscriber stays indexed after its last work was created (the create that
# follows its indexing in one pipeline is never missed)
SWEEP_MAX = 5000  # busy subscribers looked at per sweep
HISTORY_KEEP = 200  # a subscriber's listing keeps its newest deliveries only (no retention scan)

# KEYS: the index, the target's due and in flight. ARGV: id, before. Drops the target from the index
# when it has nothing due or in flight and got no work since `before`; returns 1 if it did.
_PRUNE = """
if redis.call('ZCARD', KEYS[2]) > 0 or redis.call('ZCARD', KEYS[3]) > 0 then return 0 end
local at = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0')
if at >= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""


@lru_cache(maxsize=8192)
def subscriber(target_id: str, callback: str, allow_private: bool, max_attempts: int) -> Target | None:
    """A subscriber's target: one request in flight, small batches, its own retry budget."""
    try:
        return Target(id=target_id, url=callback, allow_private_network=allow_private, max_in_flight=1,
                      batch_size=5, timeouts={"connect": 3.0, "read": 5.0}, breaker_threshold=5,
                      breaker_cooldown=60.0,
                      retry={"max_attempts": max_attempts, "base_delay": 2.0, "max_delay": 300.0,
                             "max_age": 86400.0})
    except ValueError:  # its URL passed the checks when it subscribed; rules may have changed since
        return subscriber(target_id, GONE_URL, False, max_attempts)


def resolve(ctx: Context, ids: list[str]) -> list[Target | None]:
    """The target of each id, in order (None: no such target)."""
    settings = ctx.settings
    out = [settings.target(i) for i in ids]
    wanted = [i for i, t in zip(ids, out) if t is None and is_subscriber(i)]
    if not wanted:
        return out
    found = dict(zip(wanted, subscriptions.callbacks(ctx, wanted)))
    allow, attempts = settings.websub_allow_private_callbacks, settings.websub_max_attempts
    return [t if t is not None or i not in found else
            subscriber(i, found[i] or GONE_URL, allow and found[i] is not None, attempts)
            for i, t in zip(ids, out)]


def resolve_one(ctx: Context, target_id: str) -> Target | None:
    return resolve(ctx, [target_id])[0]


def queue_busy(pipe, keys, ids: list[str], now: float) -> None:
    """Queue: these subscriber targets got work; also keeps their listings bounded."""
    if ids:
        pipe.zadd(keys.websub_busy, {i: now for i in ids})
        for i in ids:
            records.queue_cap_history(pipe, keys, i, HISTORY_KEEP)


def sweep_busy(ctx: Context, now: float) -> list[str]:
    """The busy subscribers with deliveries due now (after handing back leases that ran out), in one
    round trip; those with nothing left leave the index, and the keys of those gone for good too."""
    ids = [m.decode() for m in ctx.redis.zrange(ctx.keys.websub_busy, 0, SWEEP_MAX - 1)]
    if not ids:
        return []
    pipe = ctx.redis.pipeline(transaction=False)
    prune = ctx.script(_PRUNE)
    for tid in ids:
        schedule = DueSchedule(ctx, tid)
        schedule.queue_expire_leases(pipe, now)
        schedule.queue_due_count(pipe, now)
        prune(keys=[ctx.keys.websub_busy, schedule.due, schedule.inflight], args=[tid, now - BUSY_GRACE],
              client=pipe)
        subscriptions.queue_get(pipe, ctx.keys, tid)
    replies = pipe.execute()
    due = [tid for tid, n in zip(ids, replies[1::4]) if int(n)]
    gone = [tid for tid, pruned, rec in zip(ids, replies[2::4], replies[3::4]) if int(pruned) and not rec]
    if gone:
        forget(ctx, gone)
    return due


def forget(ctx: Context, ids: list[str]) -> None:
    """Subscribers gone for good, with nothing due or in flight: their circuit, slots and listing go."""
    pipe = ctx.redis.pipeline(transaction=False)
    for tid in ids:
        circuit.queue_forget(pipe, ctx.keys, tid)
        records.queue_forget(pipe, ctx.keys, tid)
        DueSchedule(ctx, tid).queue_forget(pipe)
        pipe.delete(ctx.keys.partner_recent(tid), ctx.keys.partner_acked(tid))
    pipe.execute()
