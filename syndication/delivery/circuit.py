"""Partner health: circuit breaker, pause and disable, shared by all workers in Redis.

    closed --N consecutive failures, or failing for S seconds--> open --cool-down passes--> half_open
    half_open --success--> closed        half_open --failure--> open (again)

Only failures that say something about the partner's health count (5xx,
429, timeouts, refused connections); a 4xx about one payload does not.
While open, pushes to that partner stop at once and its deliveries wait in
Redis, so a dead partner costs the deliveries workers nothing.

A partner whose request timed out is *cut* to one request in flight (`cut` in its circuit hash,
read by push.begin) until it answers again: a hanging partner holds one pusher, not its
`max_in_flight`, while its circuit decides whether to open.

Ops can *pause* a partner (deliveries queue, nothing is attempted) and a 410
Gone *disables* it until ops re-enable it (its deliveries are parked).
"""

from __future__ import annotations

from syndication.infra.context import Context

# KEYS[1] circuit hash. ARGV: success (1|0), now, threshold, failing for (seconds), when the failed
# request started. Returns the new state ('opened': it just went from closed to open).
# The circuit opens after `threshold` consecutive failures, or once the partner has failed for
# `failing for` seconds without a success (at least two failures): a hanging partner fails once
# per read timeout, and counting alone let five 15 s timeouts hold its pushers for 75 s.
OBSERVE = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0, 'last_success_at', ARGV[2])
  redis.call('HDEL', KEYS[1], 'failing_since', 'cut')
  return 'closed'
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('HSET', KEYS[1], 'last_failure_at', ARGV[2])
local started = tonumber(ARGV[5] or ARGV[2])
local ok_at = tonumber(redis.call('HGET', KEYS[1], 'last_success_at') or '0')
if started < ok_at then started = ok_at end  -- failing only since the last success
local since = tonumber(redis.call('HGET', KEYS[1], 'failing_since') or '')
if since == nil or started < since then
  redis.call('HSET', KEYS[1], 'failing_since', started)
  since = started
end
if state == 'half_open' then  -- the probe failed: open again, the same incident goes on
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[2])
  return 'open'
end
local window = tonumber(ARGV[4] or '0')
local long = window > 0 and failures >= 2 and tonumber(ARGV[2]) - since >= window
if state == 'closed' and (failures >= tonumber(ARGV[3]) or long) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'opened_count', 1)
  return 'opened'  -- closed -> open: an incident starts (delivery/notices.py)
end
return state
"""

# KEYS[1] circuit hash. ARGV: now, cooldown, take (1: this caller will send now).
# Returns 1 if a push may go out. Half-open lets exactly one probe through per cool-down.
_MAY_SEND = """
if redis.call('HGET', KEYS[1], 'disabled') == '1' then return 0 end
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return 1 end
local now = tonumber(ARGV[1])
local since = tonumber(redis.call('HGET', KEYS[1], state == 'open' and 'opened_at' or 'probe_at') or '0')
if now - since < tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_at', ARGV[1])
end
return 1
"""


def renew_slot(ctx: Context, partner, token: str, now: float) -> None:
    from syndication.delivery.schedule import lease_seconds

    ctx.redis.zadd(ctx.keys.partner_slots(partner.id), {token: now + lease_seconds(partner)}, xx=True)


def may_send(ctx: Context, partner, now: float, *, take: bool = True) -> bool:
    """May a push go to this partner now? `take=False` only looks (no half-open probe is taken)."""
    if not partner.enabled or ctx.redis.exists(ctx.keys.partner_paused(partner.id)):
        return False
    return bool(ctx.script(_MAY_SEND)(keys=[ctx.keys.partner_circuit(partner.id)],
                                      args=[now, partner.breaker_cooldown, int(take)]))


def observe_args(partner, *, success: bool, now: float, started: float | None = None) -> list:
    """OBSERVE's ARGV for one outcome of a request to `partner` that started at `started` (default now)."""
    return [int(success), now, partner.breaker_threshold, partner.breaker_failing_for,
            now if started is None else started]


def observe(ctx: Context, partner, *, success: bool, now: float, started: float | None = None) -> str:
    state = ctx.script(OBSERVE)(keys=[ctx.keys.partner_circuit(partner.id)],
                                args=observe_args(partner, success=success, now=now, started=started))
    return state.decode() if isinstance(state, bytes) else state


# KEYS: circuit hash, failed ids (HyperLogLog). ARGV: now. What OBSERVE does with a success, in
# one command (a group's transaction runs it; six plain commands cost a delivery more CPU than
# its outcome). Returns what the success ended: {state before, open incident, deliveries affected}.
SUCCESS = """
local before = redis.call('HGET', KEYS[1], 'state') or false
local incident = redis.call('HGET', KEYS[1], 'incident') or false
local affected = redis.call('PFCOUNT', KEYS[2])
redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0, 'last_success_at', ARGV[1])
redis.call('HDEL', KEYS[1], 'failing_since', 'incident', 'cut')  -- answering again: full concurrency back
redis.call('DEL', KEYS[2])
return {before, incident, affected}
"""


def success_script(ctx: Context, partner_id: str, now: float) -> tuple:
    """(script, keys, args) of SUCCESS for a group's transaction (recording.py runs it by SHA)."""
    return (ctx.script(SUCCESS), [ctx.keys.partner_circuit(partner_id), ctx.keys.partner_failed_ids(partner_id)],
            [now])


def queue_failure(pipe, keys, partner_id: str, delivery_id: str, status: int | None, error: str | None,
                  now: float) -> None:
    """Queue why the partner last failed (status and ops show it) and count the delivery as affected."""
    pipe.hset(keys.partner_circuit(partner_id), mapping={
        "last_status": "" if status is None else status, "last_error": (error or "")[:300], "last_failure_at": now})
    pipe.pfadd(keys.partner_failed_ids(partner_id), delivery_id)


def disable(pipe, keys, partner_id: str, now: float, reason: str) -> None:
    pipe.hset(keys.partner_circuit(partner_id), mapping={"disabled": 1, "disabled_at": now, "disabled_reason": reason})


def enable(ctx: Context, partner_id: str) -> int:
    """Re-enable a partner disabled by a 410; its parked deliveries become due again."""
    from syndication.delivery.deadletters import replay

    k = ctx.keys
    ctx.redis.hset(k.partner_circuit(partner_id), mapping={"disabled": 0, "state": "closed", "failures": 0})
    parked = [d.decode() for d in ctx.redis.zrange(k.partner_parked(partner_id), 0, -1)]
    return len(replay(ctx, parked).replayed)


def pause(ctx: Context, partner_id: str) -> None:
    ctx.redis.set(ctx.keys.partner_paused(partner_id), 1)


def resume(ctx: Context, partner_id: str) -> None:
    ctx.redis.delete(ctx.keys.partner_paused(partner_id))


def health(ctx: Context, partner_id: str) -> dict:
    h = {k.decode(): v.decode() for k, v in ctx.redis.hgetall(ctx.keys.partner_circuit(partner_id)).items()}
    h.setdefault("state", "closed")
    h["paused"] = bool(ctx.redis.exists(ctx.keys.partner_paused(partner_id)))
    h["disabled"] = h.get("disabled") == "1"
    return h
