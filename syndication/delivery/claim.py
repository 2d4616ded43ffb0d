"""Claiming due deliveries: one partner's (`begin`) or many partners' in one round trip (`begin_many`).

A claim checks the partner may be sent to (enabled, not paused, circuit: a half-open circuit's
probe is taken here), takes one of its `max_in_flight` slots and moves its share of the due ids
(up to `batch_size`) to `inflight` under a lease (schedule.py), all in one script.

What is due is split among the partner's free slots and, when some is left and a slot is free,
the partner is marked ready again at once: another pusher claims the next share, so one
partner's requests run concurrently up to `max_in_flight` instead of one after another in a
single batch (`Claim.more` says how many more batches could start now). A partner that timed out
(`cut` in its circuit hash, recording.py) gets one slot and one delivery per batch until it
answers again.

`begin_many` runs the same claim for every partner of a wave (delivery/engine.py): the
dispatcher pops the ready partners its idle pushers can take and claims for all of them in one
round trip, instead of one claim per pusher per partner.
"""

from __future__ import annotations

from syndication.delivery import schedule
from syndication.infra.context import Context

# The claim of one partner. k: its keys (paused, circuit, slots, due, inflight, partners ready);
# a: cooldown, max_in_flight, slot token, lease until, limit, enabled (1|0), partner id; now: as
# a string. Returns {circuit state or why nothing was claimed, [more batches possible, ids...]}.
_CLAIM = """
local function claim(k, a, now)
  if a[6] == '0' or redis.call('EXISTS', k[1]) == 1 then return {'paused'} end
  if redis.call('HGET', k[2], 'disabled') == '1' then return {'disabled'} end
  local state = redis.call('HGET', k[2], 'state') or 'closed'
  local t = tonumber(now)
  if state ~= 'closed' then
    local since = tonumber(redis.call('HGET', k[2], state == 'open' and 'opened_at' or 'probe_at') or '0')
    if t - since < tonumber(a[1]) then return {'cooling'} end
  end
  local slots, limit = tonumber(a[2]), tonumber(a[5])
  if redis.call('HGET', k[2], 'cut') == '1' then slots, limit = 1, 1 end
  redis.call('ZREMRANGEBYSCORE', k[3], '-inf', now)
  local free = slots - redis.call('ZCARD', k[3])
  if free <= 0 then return {'busy'} end
  local due = redis.call('ZCOUNT', k[4], '-inf', now)
  if due == 0 then return {'empty'} end
  local ids = redis.call('ZRANGEBYSCORE', k[4], '-inf', now, 'LIMIT', 0, math.min(limit, math.ceil(due / free)))
  if state ~= 'closed' then redis.call('HSET', k[2], 'state', 'half_open', 'probe_at', now) end
  redis.call('ZADD', k[3], a[4], a[3])
  for _, id in ipairs(ids) do
    redis.call('ZREM', k[4], id)
    redis.call('ZADD', k[5], a[4], id)
  end
  local more = 0
  if state == 'closed' and due > #ids and free > 1 then
    more = math.min(free - 1, due - #ids)
    redis.call('ZADD', k[6], 'NX', now, a[7])
  end
  table.insert(ids, 1, tostring(more))
  table.insert(ids, 1, state)
  return ids
end
"""

# KEYS: the six keys of one partner. ARGV: now, then its seven arguments.
_BEGIN = _CLAIM + """
return claim(KEYS, {ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]}, ARGV[1])
"""

# KEYS: six per partner. ARGV: now, then seven per partner. Returns, per partner in order:
# state, more, count of ids, ids...
_BEGIN_MANY = _CLAIM + """
local out = {}
for i = 0, #KEYS / 6 - 1 do
  local k, a = {}, {}
  for j = 1, 6 do k[j] = KEYS[i * 6 + j] end
  for j = 1, 7 do a[j] = ARGV[1 + i * 7 + j] end
  local r = claim(k, a, ARGV[1])
  table.insert(out, r[1])
  table.insert(out, r[2] or '0')
  table.insert(out, tostring(math.max(#r - 2, 0)))
  for j = 3, #r do table.insert(out, r[j]) end
end
return out
"""


class Claim(tuple):
    """(state, ids) of a claim, and `more`: how many more batches could start on the rest now."""

    more: int = 0
    slot: str = ""


def _keys(ctx: Context, partner) -> list[str]:
    k = ctx.keys
    return [k.partner_paused(partner.id), k.partner_circuit(partner.id), k.partner_slots(partner.id),
            k.partner_due(partner.id), k.partner_inflight(partner.id), k.partners_ready]


def _args(partner, slot: str, now: float) -> list:
    return [partner.breaker_cooldown, partner.max_in_flight, slot, now + schedule.lease_seconds(partner),
            partner.batch_size, int(partner.enabled), partner.id]


def _claim(state: str, more: int, ids: list[str], slot: str) -> Claim:
    claim = Claim((state, ids))
    claim.more, claim.slot = more, slot
    return claim


def begin(ctx: Context, partner, slot: str, now: float) -> Claim:
    """Claim a batch of one partner's due deliveries (see the module's docstring), in one round trip."""
    reply = ctx.script(_BEGIN)(keys=_keys(ctx, partner), args=[now, *_args(partner, slot, now)])
    state, *rest = [x.decode() for x in reply]
    return _claim(state, int(rest[0]) if rest else 0, rest[1:], slot)


def begin_many(ctx: Context, batches: list[tuple[object, str]], now: float) -> list[Claim]:
    """Claim a batch for each (partner, slot token) in one round trip; the claims in the same order."""
    if not batches:
        return []
    keys, args = [], [now]
    for partner, slot in batches:
        keys += _keys(ctx, partner)
        args += _args(partner, slot, now)
    reply = [x.decode() for x in ctx.script(_BEGIN_MANY)(keys=keys, args=args)]
    claims, i = [], 0
    for _, slot in batches:
        state, more, n = reply[i], int(reply[i + 1]), int(reply[i + 2])
        claims.append(_claim(state, more, reply[i + 3:i + 3 + n], slot))
        i += 3 + n
    return claims
