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
Gone *disables* it until ops re-enable it (its deliveries are parked; deadletters.enable).

The one owner of `partner:{id}:circuit`, `:paused` and `:failed_ids` (tests/unit/test_key_owners.py).
"May a push go out now" is written once, as Lua (`LUA`: `circuit_gate`), which `may_send` runs
and the claim script (schedule.py) embeds.
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

# The circuit's gate, as Lua functions: the one "may send" for `may_send` below and for the claim
# script (schedule.py), which embeds them. paused, circuit: `script_keys`; enabled: '1' or '0'
# (the partners file); now: a string. `circuit_gate` returns the circuit state when a push may go
# out, else why not: 'paused', 'disabled' or 'cooling'. A push to an open circuit past its
# cool-down is the half-open probe: whoever sends it takes it (`circuit_take_probe`), so exactly
# one probe goes out per cool-down.
LUA = """
local function circuit_gate(paused, circuit, enabled, now, cooldown)
  if enabled == '0' or redis.call('EXISTS', paused) == 1 then return 'paused' end
  if redis.call('HGET', circuit, 'disabled') == '1' then return 'disabled' end
  local state = redis.call('HGET', circuit, 'state') or 'closed'
  if state == 'closed' then return state end
  local since = tonumber(redis.call('HGET', circuit, state == 'open' and 'opened_at' or 'probe_at') or '0')
  if tonumber(now) - since < tonumber(cooldown) then return 'cooling' end
  return state
end
local function circuit_take_probe(circuit, now) redis.call('HSET', circuit, 'state', 'half_open', 'probe_at', now) end
local function circuit_cut(circuit) return redis.call('HGET', circuit, 'cut') == '1' end
"""

# KEYS: paused, circuit. ARGV: now, cooldown, take (1: this caller will send now), enabled (1|0).
# Returns 1 if a push may go out.
_MAY_SEND = LUA + """
local state = circuit_gate(KEYS[1], KEYS[2], ARGV[4], ARGV[1], ARGV[2])
if state == 'paused' or state == 'disabled' or state == 'cooling' then return 0 end
if state ~= 'closed' and ARGV[3] == '1' then circuit_take_probe(KEYS[2], ARGV[1]) end
return 1
"""


def script_keys(ctx: Context, partner_id: str) -> list[str]:
    """Paused and circuit: the keys of `LUA`'s functions, for a script that embeds them."""
    return [ctx.keys.partner_paused(partner_id), ctx.keys.partner_circuit(partner_id)]


def may_send(ctx: Context, partner, now: float, *, take: bool = True) -> bool:
    """May a push go to this partner now? `take=False` only looks (no half-open probe is taken)."""
    return bool(ctx.script(_MAY_SEND)(keys=script_keys(ctx, partner.id),
                                      args=[now, partner.breaker_cooldown, int(take), int(partner.enabled)]))


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
    """(script, keys, args) of SUCCESS for a group's transaction (outcome_group.py runs it by SHA)."""
    return (ctx.script(SUCCESS), [ctx.keys.partner_circuit(partner_id), ctx.keys.partner_failed_ids(partner_id)],
            [now])


def failure_script(ctx: Context, partner, now: float, started: float) -> tuple:
    """(script, keys, args) of OBSERVE for one failure, for a group's transaction (outcome_group.py)."""
    return (ctx.script(OBSERVE), [ctx.keys.partner_circuit(partner.id)],
            observe_args(partner, success=False, now=now, started=started))


def queue_failure(pipe, keys, partner_id: str, delivery_id: str, status: int | None, error: str | None,
                  now: float) -> None:
    """Queue why the partner last failed (status and ops show it) and count the delivery as affected."""
    pipe.hset(keys.partner_circuit(partner_id), mapping={
        "last_status": "" if status is None else status, "last_error": (error or "")[:300], "last_failure_at": now})
    pipe.pfadd(keys.partner_failed_ids(partner_id), delivery_id)


def queue_incident(pipe, keys, partner_id: str, incident_id: str) -> None:
    """Queue: the open circuit's incident (notices.py); a success ends it (SUCCESS returns it)."""
    pipe.hset(keys.partner_circuit(partner_id), "incident", incident_id)


def queue_cut(pipe, keys, partner_id: str) -> None:
    """Queue: the partner timed out, the last word on its health: one request in flight until it answers."""
    pipe.hset(keys.partner_circuit(partner_id), "cut", 1)


def disable(pipe, keys, partner_id: str, now: float, reason: str) -> None:
    pipe.hset(keys.partner_circuit(partner_id), mapping={"disabled": 1, "disabled_at": now, "disabled_reason": reason})


def reset(ctx: Context, partner_id: str) -> None:
    """Enabled again, closed, no failures counted (deadletters.enable: its parked deliveries follow)."""
    ctx.redis.hset(ctx.keys.partner_circuit(partner_id), mapping={"disabled": 0, "state": "closed", "failures": 0})


def queue_forget(pipe, keys, target_id: str) -> None:
    """Queue: a target that no longer exists (a hub subscription gone, delivery/targets.py) leaves no circuit."""
    pipe.delete(keys.partner_circuit(target_id), keys.partner_paused(target_id), keys.partner_failed_ids(target_id))


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
