"""The subscriptions of our own WebSub hub: one record per (topic, callback), and its indexes.

The one owner of `websub:sub:{id}`, `websub:subs`, `websub:topic:{feed}:{fmt}`, `websub:host:{host}`
and `websub:leases` (infra/keys.py describes them). It sits in delivery/ because the push path
reads it: a subscriber is a delivery target (delivery/targets.py builds one from its record), its
verification and its content are deliveries (delivery/hub.py), and whether it is still active is
checked at every send.

A subscription's life (W3C WebSub 5.1, 5.3):

    request(...)    a subscribe or unsubscribe request is the record's *intent* (a new token each
                    time: the latest request wins); a new record is `unverified` and counts for the caps
    activate(...)   the callback echoed the intent's challenge: subscribe -> `active` with the intent's
                    lease and secret; unsubscribe -> the record is gone. Only if the token is still
                    the record's intent: an older request verified late changes nothing
    deny(...)       verification failed: a record never active is gone; an active one keeps its lease
    expire(...)     leases that ran out (the sweeper, once a second): out of their topic at once
    remove(...)     the callback answered content with 410 Gone: the subscription ends

    remove(...)     ops removed it (`syndication websub remove`), or the subscriber answered 410 Gone

Every change is one Lua script, so two requests for one (topic, callback) never make two records.
A record that goes (unsubscribed, denied, expired, removed) is kept a while as an ended
subscription for ops (delivery/subscription_ends.py). Reads for status views: `get`,
`topic_counts`, `host_counts`.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from syndication.delivery import subscription_ends
from syndication.infra.context import Context

PENDING, ACTIVE = "unverified", "active"
SUBSCRIBE, UNSUBSCRIBE = "subscribe", "unsubscribe"
_INTENT = ("intent", "intent_mode", "intent_lease", "intent_secret", "intent_challenge", "intent_at")
EXPIRE_BATCH = 500  # leases expired per sweep at most (the next sweep takes the rest)

# KEYS: record, every subscription, its host's set. ARGV: id, mode, topic, feed, fmt, callback, host,
# lease, secret, challenge, token, now, cap in all, cap per host.
# Returns 'ok', or why nothing was written: 'unknown' (unsubscribe of no record), 'full', 'host_full'.
_REQUEST = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[2] == 'unsubscribe' then return 'unknown' end
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[13]) then return 'full' end
  if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[14]) then return 'host_full' end
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'topic', ARGV[3], 'feed', ARGV[4], 'fmt', ARGV[5],
             'callback', ARGV[6], 'host', ARGV[7], 'state', 'unverified', 'created_at', ARGV[12])
  redis.call('ZADD', KEYS[2], ARGV[12], ARGV[1])
  redis.call('SADD', KEYS[3], ARGV[1])
end
redis.call('HSET', KEYS[1], 'intent', ARGV[11], 'intent_mode', ARGV[2], 'intent_lease', ARGV[8],
           'intent_secret', ARGV[9], 'intent_challenge', ARGV[10], 'intent_at', ARGV[12], 'updated_at', ARGV[12])
return 'ok'
"""

# Lua helpers. KEYS of every script below: record, topic, leases, every subscription, host set.
_LUA = """
local function drop(k, id)
  redis.call('DEL', k[1])
  redis.call('ZREM', k[2], id)
  redis.call('ZREM', k[3], id)
  redis.call('ZREM', k[4], id)
  redis.call('SREM', k[5], id)
end
local function clear_intent(k)
  redis.call('HDEL', k[1], 'intent', 'intent_mode', 'intent_lease', 'intent_secret', 'intent_challenge', 'intent_at')
end
"""

# ARGV: id, token, now. Returns 'subscribed', 'unsubscribed' or 'stale' (not the latest request).
_ACTIVATE = _LUA + """
if redis.call('HGET', KEYS[1], 'intent') ~= ARGV[2] then return 'stale' end
if redis.call('HGET', KEYS[1], 'intent_mode') == 'unsubscribe' then
  drop(KEYS, ARGV[1])
  return 'unsubscribed'
end
local lease = tonumber(redis.call('HGET', KEYS[1], 'intent_lease'))
local ends = tonumber(ARGV[3]) + lease
redis.call('HSET', KEYS[1], 'state', 'active', 'lease_seconds', lease, 'expires_at', ends, 'verified_at', ARGV[3],
           'updated_at', ARGV[3], 'secret', redis.call('HGET', KEYS[1], 'intent_secret') or '')
clear_intent(KEYS)
redis.call('ZADD', KEYS[2], ends, ARGV[1])
redis.call('ZADD', KEYS[3], ends, ARGV[1])
return 'subscribed'
"""

# ARGV: id, token, now. Returns 'removed' (never active), 'kept' (active: its lease goes on) or 'stale'.
_DENY = _LUA + """
if redis.call('HGET', KEYS[1], 'intent') ~= ARGV[2] then return 'stale' end
if redis.call('HGET', KEYS[1], 'state') ~= 'active' then
  drop(KEYS, ARGV[1])
  return 'removed'
end
clear_intent(KEYS)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
return 'kept'
"""

# ARGV: id, now. A lease that ended (and was not renewed meanwhile): out of its topic; the record goes
# too unless a request is waiting for its verification (it stays unverified). Returns 1 if it expired.
_EXPIRE = _LUA + """
local ends = tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '0')
local active = redis.call('HGET', KEYS[1], 'state') == 'active'
if not active or ends > tonumber(ARGV[2]) then  -- renewed meanwhile, or gone: only the index is fixed
  redis.call('ZREM', KEYS[3], ARGV[1])
  if active then redis.call('ZADD', KEYS[3], ends, ARGV[1]) end
  return 0
end
if redis.call('HEXISTS', KEYS[1], 'intent') == 1 then
  redis.call('HSET', KEYS[1], 'state', 'unverified', 'updated_at', ARGV[2])
  redis.call('HDEL', KEYS[1], 'expires_at')
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 1
end
drop(KEYS, ARGV[1])
return 2
"""

# ARGV: id. Removes the subscription at once, whatever its state. Returns 1 if there was one.
_REMOVE = _LUA + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
drop(KEYS, ARGV[1])
return 1
"""


def sub_id(topic: str, callback: str) -> str:
    """The subscription's id, also its delivery target's: the same for every request of the pair."""
    return "ws-" + hashlib.sha256(f"{topic}\x00{callback}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Request:
    """One subscribe or unsubscribe request, checked (websub/requests.py)."""

    mode: str
    topic: str
    feed: str
    fmt: str
    callback: str
    host: str
    lease: int
    secret: str
    challenge: str
    token: str

    @property
    def id(self) -> str:
        return sub_id(self.topic, self.callback)


def _keys(ctx: Context, rec: dict) -> list[str]:
    k = ctx.keys
    return [k.websub_sub(rec["id"]), k.websub_topic(rec["feed"], rec["fmt"]), k.websub_leases, k.websub_subs,
            k.websub_host(rec["host"])]


def request(ctx: Context, req: Request, *, max_total: int, max_per_host: int, now: float | None = None) -> str:
    """Record the request as the subscription's intent; 'ok', 'unknown', 'full' or 'host_full'."""
    k = ctx.keys
    answer = ctx.script(_REQUEST)(
        keys=[k.websub_sub(req.id), k.websub_subs, k.websub_host(req.host)],
        args=[req.id, req.mode, req.topic, req.feed, req.fmt, req.callback, req.host, req.lease, req.secret,
              req.challenge, req.token, now or time.time(), max_total, max_per_host])
    return answer.decode() if isinstance(answer, bytes) else answer


def _run(ctx: Context, script: str, rec: dict, *args) -> str:
    answer = ctx.script(script)(keys=_keys(ctx, rec), args=[rec["id"], *args])
    return answer.decode() if isinstance(answer, bytes) else str(answer)


def activate(ctx: Context, rec: dict, token: str, now: float) -> str:
    """The callback confirmed the request `token`: 'subscribed', 'unsubscribed' or 'stale'."""
    answer = _run(ctx, _ACTIVATE, rec, token, now)
    if answer == "unsubscribed":
        subscription_ends.end(ctx, [rec], subscription_ends.UNSUBSCRIBED, now)
    return answer


def deny(ctx: Context, rec: dict, token: str, now: float) -> str:
    """The request `token` was not confirmed: 'removed', 'kept' or 'stale'."""
    answer = _run(ctx, _DENY, rec, token, now)
    if answer == "removed":
        subscription_ends.end(ctx, [rec], subscription_ends.DENIED, now)
    return answer


def remove(ctx: Context, rec: dict, reason: str = subscription_ends.REMOVED, now: float | None = None) -> bool:
    """The subscription ends at once whatever its state: ops removed it (`syndication websub remove`), or the
    subscriber said it is gone (410 to content: reason `gone`). False if it was gone already."""
    if _run(ctx, _REMOVE, rec) != "1":
        return False
    subscription_ends.end(ctx, [rec], reason, now)
    return True


def expire(ctx: Context, now: float) -> int:
    """Expire the leases that ended by `now` (at most EXPIRE_BATCH); returns how many."""
    ids = [i.decode() for i in ctx.redis.zrangebyscore(ctx.keys.websub_leases, "-inf", now, 0, EXPIRE_BATCH)]
    if not ids:
        return 0
    found = get_many(ctx, ids)
    pipe = ctx.redis.pipeline(transaction=False)
    for sid in ids:
        rec = found.get(sid) or {"id": sid, "feed": "-", "fmt": "-", "host": "-"}
        ctx.script(_EXPIRE)(keys=_keys(ctx, rec), args=[sid, now], client=pipe)
    answers = [int(n) for n in pipe.execute()]  # 2: the record went, 1: back to unverified (a request waits)
    subscription_ends.end(ctx, [found[sid] for sid, n in zip(ids, answers) if n == 2 and sid in found],
                          subscription_ends.EXPIRED, now)
    return sum(1 for n in answers if n)


def decode(h: dict) -> dict:
    out = {k.decode(): v.decode() for k, v in h.items()}
    for key in ("expires_at", "created_at", "updated_at", "verified_at", "intent_at"):
        if out.get(key):
            out[key] = float(out[key])
    for key in ("lease_seconds", "intent_lease"):
        if out.get(key):
            out[key] = int(float(out[key]))
    return out


def get(ctx: Context, sid: str) -> dict | None:
    h = ctx.redis.hgetall(ctx.keys.websub_sub(sid))
    return decode(h) if h else None


def get_many(ctx: Context, ids: list[str]) -> dict[str, dict]:
    pipe = ctx.redis.pipeline(transaction=False)
    for sid in ids:
        pipe.hgetall(ctx.keys.websub_sub(sid))
    return {sid: decode(h) for sid, h in zip(ids, pipe.execute()) if h}


def queue_get(pipe, keys, sid: str) -> None:
    """Queue reading one record on `pipe` (one answer: `decode` it, empty if none)."""
    pipe.hgetall(keys.websub_sub(sid))


def callbacks(ctx: Context, ids: list[str]) -> list[str | None]:
    """Each subscription's callback (None: no such subscription), in one round trip."""
    pipe = ctx.redis.pipeline(transaction=False)
    for sid in ids:
        pipe.hget(ctx.keys.websub_sub(sid), "callback")
    return [c.decode() if c else None for c in pipe.execute()]


def is_live(rec: dict | None, now: float) -> bool:
    """Content may go to it: active, lease not ended (checked at every send, not only by the sweep)."""
    return rec is not None and rec.get("state") == ACTIVE and float(rec.get("expires_at") or 0) > now


def active_ids(ctx: Context, feed: str, fmt: str, now: float) -> list[str]:
    """The subscribers of one topic whose lease has not ended."""
    return [i.decode() for i in ctx.redis.zrangebyscore(ctx.keys.websub_topic(feed, fmt), f"({now}", "+inf")]


def all_ids(ctx: Context) -> list[str]:
    return [i.decode() for i in ctx.redis.zrange(ctx.keys.websub_subs, 0, -1)]


def topic_counts(ctx: Context, now: float | None = None) -> dict[str, dict[str, int]]:
    """topic URL -> {"active": n, "unverified": n}: every subscription by topic and state (status views)."""
    now = now or time.time()
    out: dict[str, dict[str, int]] = {}
    for rec in get_many(ctx, all_ids(ctx)).values():
        state = ACTIVE if is_live(rec, now) else PENDING
        counts = out.setdefault(rec["topic"], {ACTIVE: 0, PENDING: 0})
        counts[state] += 1
    return out


def host_counts(ctx: Context) -> dict[str, int]:
    """callback host -> subscriptions (the per-host cap counts these)."""
    out: dict[str, int] = {}
    for rec in get_many(ctx, all_ids(ctx)).values():
        out[rec["host"]] = out.get(rec["host"], 0) + 1
    return out
