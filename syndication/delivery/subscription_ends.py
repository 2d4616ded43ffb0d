"""Ended subscriptions of our WebSub hub: kept a while so ops can see what ended and why, then deleted.

    queue_end(pipe, keys, rec, reason, now, keep)   when a record goes (delivery/subscriptions.py)
    ended(ctx, limit) / counts(ctx) / trim(ctx, now)

The one owner of `websub:ended` and `websub:ended:{sub_id}` (infra/keys.py). A subscription's
record is deleted the moment it ends (a lease ran out, its verification was denied, it was
unsubscribed, ops removed it, the subscriber answered 410 Gone): the hub holds only what it serves. What it was (topic, callback,
lease, when verified; never its secret) and why it ended are written here, each hash with a TTL of
`settings.websub_ended_retention`, the index trimmed once a minute by housekeeping, so "why did
reader X stop getting our feed?" has an answer for that long, and nothing grows without bound.

Written right after the record goes, not in the same script: a process that dies in between loses
one history line, never a subscription (the record is the truth; this is its obituary).
"""

from __future__ import annotations

import time

from syndication.infra.context import Context

EXPIRED, DENIED, UNSUBSCRIBED, REMOVED, GONE = "expired", "denied", "unsubscribed", "removed", "gone"
REASONS = (EXPIRED, DENIED, UNSUBSCRIBED, REMOVED, GONE)  # gone: the subscriber answered content with 410
KEPT = ("id", "topic", "feed", "fmt", "callback", "host", "state", "lease_seconds", "created_at", "verified_at",
        "expires_at")
COUNTED = 10000  # ended subscriptions counted by reason at most (newest first)


def queue_end(pipe, keys, rec: dict, reason: str, now: float, keep: float) -> None:
    """Queue: the subscription `rec` ended now for `reason`; kept for `keep` seconds."""
    fields = {k: rec[k] for k in KEPT if rec.get(k) not in (None, "")}
    key = keys.websub_ended_sub(rec["id"])
    pipe.delete(key)  # ended before, subscribed again since: only its last end is kept
    pipe.hset(key, mapping={**fields, "reason": reason, "ended_at": now})
    pipe.expire(key, max(1, int(keep)))
    pipe.zadd(keys.websub_ended, {rec["id"]: now})


def end(ctx: Context, recs: list[dict], reason: str, now: float | None = None) -> None:
    """The subscriptions `recs` ended for `reason` (one round trip)."""
    if not recs:
        return
    now = now or time.time()
    pipe = ctx.redis.pipeline(transaction=False)
    for rec in recs:
        queue_end(pipe, ctx.keys, rec, reason, now, ctx.settings.websub_ended_retention)
    pipe.execute()


def trim(ctx: Context, now: float | None = None) -> int:
    """Drop index entries past retention (their hashes expired by themselves); returns how many."""
    cutoff = (now if now is not None else time.time()) - ctx.settings.websub_ended_retention
    return int(ctx.redis.zremrangebyscore(ctx.keys.websub_ended, "-inf", cutoff))


def ended(ctx: Context, limit: int = 100, topic: str | None = None) -> list[dict]:
    """The newest ended subscriptions still kept (of one topic URL if given), newest first."""
    ids = [i.decode() for i in ctx.redis.zrevrange(ctx.keys.websub_ended, 0, COUNTED - 1)]
    pipe = ctx.redis.pipeline(transaction=False)
    for sid in ids:
        pipe.hgetall(ctx.keys.websub_ended_sub(sid))
    out = []
    for h in pipe.execute():
        rec = {k.decode(): v.decode() for k, v in h.items()}
        if rec and (topic is None or rec.get("topic") == topic):
            for key in ("ended_at", "created_at", "verified_at", "expires_at"):
                if rec.get(key):
                    rec[key] = float(rec[key])
            out.append(rec)
            if len(out) >= limit:
                break
    return out


def counts(ctx: Context) -> dict[str, int]:
    """reason -> ended subscriptions still kept (every reason, 0 when none)."""
    ids = ctx.redis.zrevrange(ctx.keys.websub_ended, 0, COUNTED - 1)
    pipe = ctx.redis.pipeline(transaction=False)
    for sid in ids:
        pipe.hget(ctx.keys.websub_ended_sub(sid.decode()), "reason")
    out = dict.fromkeys(REASONS, 0)
    for reason in pipe.execute():
        if reason:
            out[reason.decode()] = out.get(reason.decode(), 0) + 1
    return out
