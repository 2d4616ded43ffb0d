"""The delivery schedule: what is due, what is in flight, the slots, and which partners are ready.

The one owner of four key families (tests/unit/test_key_owners.py holds it to that):

- `partner:{id}:due`: every delivery waiting to be sent, scored by when it becomes due (new
  deliveries now, retries later);
- `partner:{id}:inflight`: the ids a push batch claimed, scored by their lease deadline;
- `partner:{id}:slots`: the batches running, scored by their lease: at most `max_in_flight`;
- `partners:ready`: partners with work a delivery engine should take (engine.py), scored by
  when they first became ready.

A push batch *claims* due ids (`claim`, `claim_many`: one script that checks the circuit's gate,
takes a slot and moves its share of the due ids to `inflight`), renews their leases while it runs
(leases.py), and ends them in the transaction that records the outcomes (`queue_release`,
`queue_end`). If the worker dies (kill -9) the leases run out and the sweeper moves the ids back
to due (`expire_leases`): no delivery waits on Celery's visibility timeout, and none is lost.
(rq's ScheduledJobRegistry and StartedJobRegistry, kept in Redis.)

Scripts of other owners that must move a delivery in or out of the schedule in the same atomic
step (records.py: create, make due again, retire, cancel) embed `LUA`, this module's Lua
functions, with the keys `DueSchedule.script_keys` hands out: every write of these keys is
written here.

What is due is split among the partner's free slots and, when some is left and a slot is free,
the partner is marked ready again at once: another pusher claims the next share, so one
partner's requests run concurrently up to `max_in_flight` (`Claim.more`). A partner that timed out
(`cut` in its circuit hash) gets one slot and one delivery per batch until it answers again.
"""

from __future__ import annotations

import time

from syndication.delivery import circuit, ratelimit
from syndication.infra.context import Context

# The schedule's Lua functions, for the scripts that move deliveries in and out of it atomically.
LUA = """
local function schedule_due(due, id, at) redis.call('ZADD', due, at, id) end
local function schedule_new(due, id, at) return redis.call('ZADD', due, 'NX', at, id) end
local function unschedule(due, id) redis.call('ZREM', due, id) end
local function in_flight(inflight, id) return redis.call('ZSCORE', inflight, id) ~= false end
"""

# KEYS: due, inflight. ARGV: now. Expired leases go back to due, ready at once.
_EXPIRE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], ARGV[1], id)
end
return #ids
"""

# The claim of one partner. k: paused, circuit (circuit.script_keys), slots, due, inflight, ready,
# rate, throttled counter (ratelimit.script_keys); a: cooldown, max_in_flight, slot token, lease
# until, limit, enabled (1|0), partner id, requests, period, burst, counter field
# (ratelimit.script_args); now: a string. Returns {circuit state or why nothing was claimed, more
# batches possible, when the rate limit lets the partner send again (0: it does now), ids...}.
# The rate limit is asked last, for what would be claimed: an idle or busy partner spends none.
_CLAIM = circuit.LUA + ratelimit.LUA + """
local function claim(k, a, now)
  local state = circuit_gate(k[1], k[2], a[6], now, a[1])
  if state == 'paused' or state == 'disabled' or state == 'cooling' then return {state, '0', '0'} end
  local slots, limit = tonumber(a[2]), tonumber(a[5])
  if circuit_cut(k[2]) then slots, limit = 1, 1 end
  redis.call('ZREMRANGEBYSCORE', k[3], '-inf', now)
  local free = slots - redis.call('ZCARD', k[3])
  if free <= 0 then return {'busy', '0', '0'} end
  local due = redis.call('ZCOUNT', k[4], '-inf', now)
  if due == 0 then return {'empty', '0', '0'} end
  local want, wake = rate_room(k[7], a[8], a[9], a[10], now, math.min(limit, math.ceil(due / free)))
  if want == 0 then
    rate_throttled(k[7], k[8], a[11], now, wake)
    return {'throttled', '0', tostring(wake)}
  end
  local ids = redis.call('ZRANGEBYSCORE', k[4], '-inf', now, 'LIMIT', 0, want)
  rate_take(k[7], a[8], a[9], a[10], now, #ids)
  if state ~= 'closed' then circuit_take_probe(k[2], now) end
  redis.call('ZADD', k[3], a[4], a[3])
  for _, id in ipairs(ids) do
    redis.call('ZREM', k[4], id)
    redis.call('ZADD', k[5], a[4], id)
  end
  local more = 0
  if state == 'closed' and wake == 0 and due > #ids and free > 1 then
    more = math.min(free - 1, due - #ids)
    redis.call('ZADD', k[6], 'NX', now, a[7])
  end
  return {state, tostring(more), tostring(wake), unpack(ids)}
end
"""

NKEYS, NARGS = 8, 11  # per partner

# KEYS: the keys of one partner. ARGV: now, then its arguments.
_BEGIN = _CLAIM + """
local a = {}
for j = 1, %d do a[j] = ARGV[1 + j] end
return claim(KEYS, a, ARGV[1])
""" % NARGS

# KEYS: NKEYS per partner. ARGV: now, then NARGS per partner. Returns, per partner in order:
# state, more, wake, count of ids, ids...
_BEGIN_MANY = _CLAIM + """
local out = {}
for i = 0, #KEYS / %(k)d - 1 do
  local k, a = {}, {}
  for j = 1, %(k)d do k[j] = KEYS[i * %(k)d + j] end
  for j = 1, %(a)d do a[j] = ARGV[1 + i * %(a)d + j] end
  local r = claim(k, a, ARGV[1])
  table.insert(out, r[1])
  table.insert(out, r[2])
  table.insert(out, r[3])
  table.insert(out, tostring(#r - 3))
  for j = 4, #r do table.insert(out, r[j]) end
end
return out
""" % {"k": NKEYS, "a": NARGS}


def lease_seconds(partner) -> float:
    """Longer than any one request to the partner (its timeouts) plus its bookkeeping.

    Never capped: a lease shorter than a request in flight hands the same delivery to a
    second worker while the first is still waiting for the answer (the partner gets it
    twice). Recovery after a worker dies therefore takes as long as the partner's timeouts
    allow: 23 s with the defaults.
    """
    return partner.timeouts.connect + partner.timeouts.read + 10.0


class Claim(tuple):
    """(state, ids) of a claim; `more`: how many more batches could start on the rest now; `wake`:
    when the partner's rate limit lets it send again, if it held some back (0: none held back)."""

    more: int = 0
    wake: float = 0.0
    slot: str = ""


class DueSchedule:
    """One partner's schedule: its due ids, its ids in flight and its slots."""

    def __init__(self, ctx: Context, partner_id: str):
        k = ctx.keys
        self.ctx, self.partner_id = ctx, partner_id
        self.due, self.inflight, self.slots = k.partner_due(partner_id), k.partner_inflight(partner_id), \
            k.partner_slots(partner_id)

    def script_keys(self) -> list[str]:
        """Due, in flight and ready: the keys of `LUA`'s functions, for another owner's script."""
        return [self.due, self.inflight, self.ctx.keys.partners_ready]

    # -- queued on a caller's transaction ------------------------------------------------------

    def queue_retry(self, pipe, delivery_id: str, at: float) -> None:
        pipe.zadd(self.due, {delivery_id: at})

    def queue_release(self, pipe, ids: list[str]) -> None:
        """The leases of recorded ids end."""
        if ids:
            pipe.zrem(self.inflight, *ids)

    def queue_end_slot(self, pipe, slot: str) -> None:
        """A batch's slot ends."""
        pipe.zrem(self.slots, slot)

    def queue_due_count(self, pipe, now: float) -> None:
        """One answer: the count due by `now` (after a batch: more work, mark the partner ready)."""
        pipe.zcount(self.due, "-inf", now)

    def queue_unschedule(self, pipe, delivery_id: str) -> None:
        """It will not be sent (retired): out of due."""
        pipe.zrem(self.due, delivery_id)

    def queue_clear(self, pipe) -> None:
        """The partner is gone (a reload removed or disabled it): nothing of it is due, in flight or ready."""
        pipe.delete(self.due, self.inflight)
        pipe.zrem(self.ctx.keys.partners_ready, self.partner_id)

    def queue_expire_leases(self, pipe, now: float) -> None:
        """`expire_leases` on a caller's pipeline (one answer: how many went back to due)."""
        self.ctx.script(_EXPIRE)(keys=[self.due, self.inflight], args=[now], client=pipe)

    def queue_forget(self, pipe) -> None:
        """The target no longer exists and has nothing due or in flight: its slots go too."""
        pipe.delete(self.slots)

    def queue_counts(self, pipe, now: float, sample: int) -> None:
        """Five answers for a status screen: due now, due later, in flight, the first `sample` due
        ids and the first `sample` ids in flight."""
        pipe.zcount(self.due, "-inf", now)
        pipe.zcount(self.due, f"({now}", "+inf")
        pipe.zcard(self.inflight)
        pipe.zrange(self.due, 0, sample - 1)
        pipe.zrange(self.inflight, 0, sample - 1)

    # -- one round trip each ---------------------------------------------------------------------

    def give_back(self, ids: list[str], now: float) -> None:
        """Unsent claimed ids go back to due (for the next batch, or after the circuit's cool-down)."""
        if ids:
            pipe = self.ctx.redis.pipeline(transaction=True)
            pipe.zrem(self.inflight, *ids)
            pipe.zadd(self.due, {i: now for i in ids})
            pipe.execute()

    def waiting_ids(self) -> list[str]:
        """Every id due (now or later) or in flight."""
        pipe = self.ctx.redis.pipeline(transaction=False)
        pipe.zrange(self.due, 0, -1)
        pipe.zrange(self.inflight, 0, -1)
        due, inflight = pipe.execute()
        return [i.decode() for i in due + inflight]

    def drop_slot(self, slot: str) -> None:
        """A batch failed: its slot ends now (its ids' leases run out on their own)."""
        self.ctx.redis.zrem(self.slots, slot)

    def renew(self, ids: list[str], slot: str, until: float) -> None:
        """Extend the leases of a running batch's ids and of its slot (never re-adding an ended one)."""
        pipe = self.ctx.redis.pipeline(transaction=False)
        if ids:
            pipe.zadd(self.inflight, {i: until for i in ids}, xx=True)
        if slot:
            pipe.zadd(self.slots, {slot: until}, xx=True)
        pipe.execute()

    def expire_leases(self, now: float) -> int:
        return int(self.ctx.script(_EXPIRE)(keys=[self.due, self.inflight], args=[now]))

    def due_count(self, now: float) -> int:
        return int(self.ctx.redis.zcount(self.due, "-inf", now))


def _keys(ctx: Context, partner) -> list[str]:
    s = DueSchedule(ctx, partner.id)
    return [*circuit.script_keys(ctx, partner.id), s.slots, s.due, s.inflight, ctx.keys.partners_ready,
            *ratelimit.script_keys(ctx, partner.id)]


def _args(partner, slot: str, now: float) -> list:
    return [partner.breaker_cooldown, partner.max_in_flight, slot, now + lease_seconds(partner),
            partner.batch_size, int(partner.enabled), partner.id, *ratelimit.script_args(partner)]


def _claim(state: str, more: str, wake: str, ids: list[str], slot: str) -> Claim:
    claim = Claim((state, ids))
    claim.more, claim.wake, claim.slot = int(more), float(wake), slot
    return claim


def claim(ctx: Context, partner, slot: str, now: float) -> Claim:
    """Claim a batch of one partner's due deliveries (see the module's docstring), in one round trip."""
    reply = ctx.script(_BEGIN)(keys=_keys(ctx, partner), args=[now, *_args(partner, slot, now)])
    state, more, wake, *ids = [x.decode() for x in reply]
    return _claim(state, more, wake, ids, slot)


def claim_many(ctx: Context, batches: list[tuple[object, str]], now: float) -> list[Claim]:
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
        state, more, wake, n = reply[i], reply[i + 1], reply[i + 2], int(reply[i + 3])
        claims.append(_claim(state, more, wake, reply[i + 4:i + 4 + n], slot))
        i += 4 + n
    return claims


def mark_ready(ctx: Context, partner_ids: list[str]) -> list[str]:
    """Mark partners ready for a delivery engine (engine.py); return those not already waiting.

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


def pop_ready(ctx: Context, block: float) -> str | None:
    """Block up to `block` s for the partner ready longest (engine.py's dispatcher)."""
    popped = ctx.redis.bzpopmin(ctx.keys.partners_ready, timeout=block)
    return popped[1].decode() if popped else None


def pop_more_ready(ctx: Context, n: int) -> list[str]:
    """Take up to `n` more ready partners at once, longest ready first."""
    return [m.decode() for m, _ in ctx.redis.zpopmin(ctx.keys.partners_ready, n)] if n else []
