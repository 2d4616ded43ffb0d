"""Per-partner rate limits (the partners file's `rate_limit`), shared by every process and host.

The one owner of `partner:{id}:rate` (tests/unit/test_key_owners.py). The limiter is GCRA (the
generic cell rate algorithm, as in redis-cell and the `throttled` gem): the key keeps the
partner's *theoretical arrival time* (`tat`); a request may go when `tat - now` leaves room for
it within the burst, and each request sent moves `tat` on by one emission interval
(period / requests). One number per partner, no clock on any worker: Redis's script is the only
writer, and its time is the claim's `now`.

It is written as Lua (`LUA`) that the claim script (schedule.py) embeds, so a throttled partner's
deliveries are simply not claimed: they stay due, no pusher is held, and a delivery held back is
not an attempt (no retry used, no backoff, no circuit count). The claim takes at most what the
limiter allows now and says when the partner may send again (`Claim.wake`), so the engine marks
it ready then rather than at the next sweep.

`status` reads `state`: whether the partner is being throttled now and until when.
"""

from __future__ import annotations

from syndication.infra import metrics
from syndication.infra.context import Context

# A claim that found the partner throttled is counted here (ops/series.py shows it at 0 first).
THROTTLED = "partner_throttled"

# rate: the hash `partner:{id}:rate`; requests, period (seconds), burst: the partner's limit
# (requests '0': no limit); now: a string. `rate_room` returns how many requests may go now
# (`want` at most) and, when that is fewer than `want`, when the next one may go (else 0).
# `rate_take` records that `n` go now. `rate_throttled` notes a claim held back until `at`.
LUA = """
local function rate_interval(requests, period) return tonumber(period) / tonumber(requests) end
local function rate_tat(rate, now)
  local tat = tonumber(redis.call('HGET', rate, 'tat') or '0')
  if tat < now then return now end
  return tat
end
local function rate_room(rate, requests, period, burst, now, want)
  if requests == '0' then return want, 0 end
  now = tonumber(now)
  local t = rate_interval(requests, period)
  local tat = rate_tat(rate, now)
  local room = math.floor((now + tonumber(burst) * t - tat) / t + 1e-9)
  if room >= want then return want, 0 end
  if room < 0 then room = 0 end
  return room, tat + (room + 1 - tonumber(burst)) * t
end
local function rate_take(rate, requests, period, burst, now, n)
  if requests == '0' or n == 0 then return end
  now = tonumber(now)
  local t = rate_interval(requests, period)
  local tat = rate_tat(rate, now) + n * t
  redis.call('HSET', rate, 'tat', tat)
  redis.call('PEXPIRE', rate, math.ceil((tat - now + 60) * 1000))
end
local function rate_throttled(rate, metric, field, now, at)
  redis.call('HSET', rate, 'throttled_at', now, 'until', at)
  redis.call('PEXPIRE', rate, math.ceil((at - tonumber(now) + 60) * 1000))
  redis.call('HINCRBYFLOAT', metric, field, 1)
end
"""


def script_keys(ctx: Context, partner_id: str) -> list[str]:
    """The limiter's hash and the throttled counter: the keys of `LUA`'s functions."""
    return [ctx.keys.partner_rate(partner_id), ctx.keys.metric(THROTTLED)]


def script_args(partner) -> list:
    """requests, period, burst and the counter's field: the arguments of `LUA`'s functions."""
    limit = partner.rate_limit
    if limit is None:
        return [0, 1, 1, metrics.series(partner=partner.id)]
    return [*limit.rate, limit.burst, metrics.series(partner=partner.id)]


def state(ctx: Context, partner_id: str, now: float) -> dict:
    """{"throttled": held back now, "until": when it may send again}: what status and /ops show."""
    raw = ctx.redis.hmget(ctx.keys.partner_rate(partner_id), "until", "throttled_at")
    until, at = (float(v) if v else None for v in raw)
    throttled = until is not None and at is not None and until > now
    return {"throttled": throttled, "until": until if throttled else None}
