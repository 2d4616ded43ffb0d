"""Delivery records: one per (subject, version, partner), with every attempt.

The one owner of `delivery:{id}`, its attempts, the request its last attempt sent, `article:{id}:deliveries` and
`partner:{id}:history` (tests/unit/test_key_owners.py), and so of every status write:
`set_status` (the push path, checked against lifecycle.py with the status it read), the
guarded `queue_finish` (retire, cancel: the check runs in Redis), and `LUA`, the record's Lua
functions that deadletters.py's scripts embed (make due again, discard).

The delivery id is derived from that triple (model.delivery_id), so it is the same however many
times the event is re-applied, retried or replayed: it is the `webhook-id`
a partner dedupes on. Creating a record that exists is a no-op.

Retention: a finished delivery (delivered, superseded, cancelled, discarded)
and its attempts expire `settings.delivery_retention` after they finish; the
EXPIRE is queued with the status write (`set_status(..., ttl=...)`), so no
finished record is ever left without one. Dead letters and parked deliveries
keep no TTL: they wait for an operator. An article's delivery set expires a
retention after its newest delivery was created (readers skip members whose
record has gone). See retention.py for the partner listings.

The last attempt's request (`delivery:{id}:request`): the exact headers and body we sent, so
a partner can reproduce its signature check (api/portal_state.py, `deliveries show`). Only the
last attempt's (each attempt overwrites it: one per delivery, not one per attempt), written in
the attempt's transaction (`add_attempt`), credentials masked (signing.shown_headers), the body
cut at REQUEST_BODY_CAP with `truncated` set. It expires, persists and goes with the record
(`expire`, the Lua functions below).
"""

from __future__ import annotations

import base64
import json
import math
import time
from typing import Any

from syndication import tracecontext
from syndication.delivery import lifecycle, schedule
from syndication.delivery.lifecycle import EXPIRING, FINAL, WAITING, DeliveryStatus, Step
from syndication.delivery.model import ARTICLE, HUB_KINDS, Attempt, Subject, decode, delivery_id
from syndication.infra.context import Context
from syndication.infra.keys import ATTEMPTS_CAP
from syndication.partners.signing import shown_headers
from syndication.partners.target import is_subscriber

REQUEST_BODY_CAP = 256 * 1024  # bytes of a request body kept: a NewsML-G2 push with a long story fits


def retention_ttl(ctx: Context, target_id: str = "") -> int:
    """The TTL (whole seconds, at least 1) of a finished delivery: `settings.delivery_retention`, or
    for a subscriber of our WebSub hub `settings.websub_delivery_retention` (many, and anonymous)."""
    s = ctx.settings
    return max(1, math.ceil(s.websub_delivery_retention if is_subscriber(target_id) else s.delivery_retention))


# The record's Lua functions, for the guarded scripts (here, and deadletters.py's make-due-again).
# `one_of(status, list)`: is `status` in a space-separated list of states (a Step's sources,
# passed in ARGV: lifecycle.py is the one table). `record_finish` ends a delivery, expiring it
# after `ttl` seconds ('' to keep it); `record_again` makes it pending again with a fresh retry
# budget, its id and attempts kept.
LUA = f"""
local function one_of(status, list) return string.find(' ' .. list .. ' ', ' ' .. status .. ' ', 1, true) ~= nil end
local function record_finish(rec, attempts, request, status, now, ttl, last_error)
  redis.call('HSET', rec, 'status', status, 'updated_at', now, 'finished_at', now)
  if last_error ~= '' then redis.call('HSET', rec, 'last_error', last_error) end
  if ttl ~= '' then
    redis.call('EXPIRE', rec, ttl)
    redis.call('EXPIRE', attempts, ttl)
    redis.call('EXPIRE', request, ttl)
  end
end
local function record_again(rec, attempts, request, now)
  local tried = redis.call('HGET', rec, 'attempts') or '0'
  redis.call('HSET', rec, 'status', {lifecycle.lua(DeliveryStatus.PENDING)}, 'updated_at', now, 'next_attempt_at', now,
             'attempts_base', tried, 'replayed_at', now)
  redis.call('HDEL', rec, 'finished_at')
  redis.call('HINCRBY', rec, 'replays', 1)
  redis.call('PERSIST', rec)
  redis.call('PERSIST', attempts)
  redis.call('PERSIST', request)
end
"""

# KEYS: delivery, article deliveries, partner history, then the schedule's (due, inflight, ready).
# ARGV: id, partner, subject id, version, event_id, event_type, now, occurred_at, retention (s),
# traceparent, tracestate (tracecontext.record_fields), kind, and '0' to keep it out of the subject's
# delivery set (a hub subscriber's: thousands per feed change, listed per subscriber instead).
# Returns 1 if created.
_CREATE = schedule.LUA + f"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'partner', ARGV[2], 'article_id', ARGV[3],
           'version', ARGV[4], 'event_id', ARGV[5], 'event_type', ARGV[6],
           'status', {lifecycle.lua(lifecycle.CREATE.target)},
           'attempts', 0, 'created_at', ARGV[7], 'updated_at', ARGV[7], 'next_attempt_at', ARGV[7],
           'occurred_at', ARGV[8], 'traceparent', ARGV[10], 'tracestate', ARGV[11], 'kind', ARGV[12])
if ARGV[13] ~= '0' then
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[9])
end
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[1])
schedule_new(KEYS[4], ARGV[1], ARGV[7])
return 1
"""

# KEYS: delivery, attempts, request. ARGV: the step's sources, its target, now, ttl ('' to keep), last error.
# Ends the delivery only if its status is one of the sources: returns 1 if it did.
_FINISH = LUA + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or not one_of(status, ARGV[1]) then return 0 end
record_finish(KEYS[1], KEYS[2], KEYS[3], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
"""


def script_keys(ctx: Context, did: str) -> list[str]:
    """The record, its attempts and its last request: the keys of `LUA`'s functions (in that order),
    for a script that embeds them."""
    return [ctx.keys.delivery(did), ctx.keys.delivery_attempts(did), ctx.keys.delivery_request(did)]


def sources(step: Step) -> str:
    """A step's source states as the guarded scripts take them (`one_of`)."""
    return " ".join(sorted(s.value for s in step.sources))


def create(ctx: Context, partner_id: str, subject: Subject, event_id: str, event_type: str,
           now: float | None = None, version_key: str | None = None, occurred_at: str = "",
           trace: dict | None = None) -> str | None:
    """Create the delivery and make it due now; return its id if new, None if it existed.

    `version_key` makes the id instead of the subject's version (a feed's ETag for WebSub pings).
    """
    did = delivery_id(subject.id, version_key or subject.version, partner_id)
    created = queue_create(ctx, None, partner_id, subject, event_id, event_type, now, version_key, occurred_at, trace)
    return did if created else None


def queue_create(ctx: Context, pipe, partner_id: str, subject: Subject, event_id: str, event_type: str,
                 now: float | None = None, version_key: str | None = None, occurred_at: str = "",
                 trace: dict | None = None):
    """`create` queued on `pipe` (one answer: 1 if created); with `pipe` None, run now and answered."""
    did = delivery_id(subject.id, version_key or subject.version, partner_id)
    k = ctx.keys
    return ctx.script(_CREATE)(
        keys=[k.delivery(did), k.article_deliveries(subject.id), k.partner_history(partner_id),
              *schedule.DueSchedule(ctx, partner_id).script_keys()],
        args=[did, partner_id, subject.id, subject.version, event_id, event_type, now or time.time(), occurred_at,
              retention_ttl(ctx, partner_id), *tracecontext.record_fields(trace), subject.kind,
              "0" if subject.kind in HUB_KINDS else "1"],
        client=pipe,
    )


def create_many(ctx: Context, partner_ids: list[str], article_id: str, version: int, event_id: str,
                event_type: str, now: float | None = None, occurred_at: str = "",
                trace: dict | None = None) -> list[str]:
    """`create` for every partner of one event, in one pipeline (one round trip); returns the partners
    whose delivery is new."""
    if not partner_ids:
        return []
    pipe = ctx.redis.pipeline(transaction=False)
    queue_create_many(ctx, pipe, partner_ids, article_id, version, event_id, event_type, now, occurred_at, trace)
    return [pid for pid, created in zip(partner_ids, pipe.execute()) if created]


def queue_create_many(ctx: Context, pipe, partner_ids: list[str], article_id: str, version: int, event_id: str,
                      event_type: str, now: float | None = None, occurred_at: str = "",
                      trace: dict | None = None) -> None:
    """Queue `create_many` on `pipe` (one result per partner: 1 if created). `trace`: the event's
    (its stored envelope's `trace`), kept on each delivery for its attempts' `traceparent`."""
    k, now, script, ttl = ctx.keys, now or time.time(), ctx.script(_CREATE), retention_ttl(ctx)
    for i, pid in enumerate(partner_ids):
        did = delivery_id(article_id, version, pid)
        # A microsecond apart: listings sorted by creation keep the partners file's order.
        script(keys=[k.delivery(did), k.article_deliveries(article_id), k.partner_history(pid),
                     *schedule.DueSchedule(ctx, pid).script_keys()],
               args=[did, pid, article_id, version, event_id, event_type, now + i * 1e-6, occurred_at, ttl,
                     *tracecontext.record_fields(trace), ARTICLE],
               client=pipe)


def get(ctx: Context, did: str) -> dict[str, Any] | None:
    h = ctx.redis.hgetall(ctx.keys.delivery(did))
    return decode(h) if h else None


def get_many(ctx: Context, ids: list[str]) -> list[dict[str, Any]]:
    pipe = ctx.redis.pipeline(transaction=False)
    for did in ids:
        pipe.hgetall(ctx.keys.delivery(did))
    return [decode(h) for h in pipe.execute() if h]


def attempts(ctx: Context, did: str) -> list[dict[str, Any]]:
    return [json.loads(a) for a in ctx.redis.lrange(ctx.keys.delivery_attempts(did), 0, -1)]


def with_attempts(ctx: Context, recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record with its attempts (oldest first) as `attempt_log`, read in one round trip."""
    pipe = ctx.redis.pipeline(transaction=False)
    for r in recs:
        pipe.lrange(ctx.keys.delivery_attempts(r["id"]), 0, -1)
    for r, found in zip(recs, pipe.execute()):
        r["attempt_log"] = [json.loads(a) for a in found]
    return recs


def add_attempt(pipe, keys, did: str, attempt: "Attempt", request: tuple | dict | None = None) -> None:
    """Queue an attempt; `request` (body, headers): what it sent, kept as the delivery's last request
    (None or empty: it sent nothing, and an older attempt's request is no longer the last one)."""
    key = keys.delivery_attempts(did)
    pipe.rpush(key, attempt.to_json())
    pipe.ltrim(key, -ATTEMPTS_CAP, -1)
    pipe.hincrby(keys.delivery(did), "attempts", 1)
    if not request:
        pipe.delete(keys.delivery_request(did))
    else:
        pipe.set(keys.delivery_request(did), json.dumps(request_record(*request, n=attempt.n, at=attempt.at)))


def request_record(body: bytes, headers: dict[str, str], *, n: int, at: float) -> dict[str, Any]:
    """What is kept of a request: its headers as shown (credentials masked), and its body as text
    (`base64` when it is not UTF-8), cut at REQUEST_BODY_CAP bytes with `truncated` set."""
    kept = body[:REQUEST_BODY_CAP]
    truncated = len(body) > len(kept)
    try:
        text, encoding = kept.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        if truncated:  # a character cut in two at the end is not a reason to fall back to base64
            try:
                text, encoding = kept[:-3].decode("utf-8") + kept[-3:].decode("utf-8", "ignore"), "utf-8"
            except UnicodeDecodeError:
                text, encoding = base64.b64encode(kept).decode(), "base64"
        else:
            text, encoding = base64.b64encode(kept).decode(), "base64"
    return {"attempt": n, "at": at, "headers": shown_headers(headers), "body": text, "encoding": encoding,
            "body_bytes": len(body), "kept_bytes": len(kept), "truncated": truncated}


def last_request(ctx: Context, did: str) -> dict[str, Any] | None:
    """The request the delivery's last attempt sent (`request_record`), or None (none kept)."""
    raw = ctx.redis.get(ctx.keys.delivery_request(did))
    return json.loads(raw) if raw else None


def set_status(pipe, keys, did: str, step: Step, was: DeliveryStatus, status: DeliveryStatus, now: float, *,
               ttl: float | None = None, **fields: Any) -> None:
    """Queue a status change on `pipe`, one `step` allows from `was` (the status the caller read;
    raises lifecycle.InvalidTransition otherwise); with `ttl` (`retention_ttl(ctx)`), a finished
    delivery and its attempts expire that many seconds from now, in the same transaction."""
    step.check(was, status)
    mapping = {"status": status.value, "updated_at": now, **{k: v for k, v in fields.items() if v is not None}}
    if status in FINAL:
        mapping["finished_at"] = now
    pipe.hset(keys.delivery(did), mapping=mapping)
    if ttl and status in EXPIRING:
        expire(pipe, keys, did, ttl)


def queue_finish(ctx: Context, pipe, did: str, step: Step, status: DeliveryStatus, now: float, *,
                 last_error: str = "") -> None:
    """Queue ending a delivery whatever the caller read, guarded in Redis: only if its status then is
    one of the `step`'s sources (one answer: 1 if it was ended). For steps taken without reading the
    record first (a newer version retires older ones, a reload cancels a partner's)."""
    step.check_target(status)
    ctx.script(_FINISH)(keys=script_keys(ctx, did),
                        args=[sources(step), status.value, now, retention_ttl(ctx) if status in EXPIRING else "",
                              last_error], client=pipe)


def retire(ctx: Context, article_id: str, version: int, withdrawn: bool) -> int:
    """Waiting deliveries of the article's older versions will never be sent: say so now (superseded,
    or cancelled by a withdrawal), not at push time. Returns how many were retired."""
    status = DeliveryStatus.CANCELLED if withdrawn else DeliveryStatus.SUPERSEDED
    older = [r for r in for_article(ctx, article_id)
             if r["version"] < version and DeliveryStatus(r["status"]) in WAITING]
    if not older:
        return 0
    now, pipe = time.time(), ctx.redis.pipeline(transaction=True)
    for rec in older:
        queue_finish(ctx, pipe, rec["id"], lifecycle.RETIRE, status, now)
        schedule.DueSchedule(ctx, rec["partner"]).queue_unschedule(pipe, rec["id"])
    return sum(pipe.execute()[::2])


def cancel_partner(ctx: Context, partner_id: str, reason: str, now: float) -> int:
    """Cancel every waiting delivery of a partner (a reload removed or disabled it), with the reason,
    and clear its schedule. Returns how many were cancelled."""
    sched = schedule.DueSchedule(ctx, partner_id)
    ids = sched.waiting_ids()
    if not ids:
        return 0
    pipe = ctx.redis.pipeline(transaction=True)
    for did in ids:
        queue_finish(ctx, pipe, did, lifecycle.CANCEL, DeliveryStatus.CANCELLED, now, last_error=reason)
    sched.queue_clear(pipe)
    return sum(pipe.execute()[:len(ids)])


def expire(pipe, keys, did: str, ttl: float) -> None:
    """Queue the retention of a finished delivery: the record and its attempts go `ttl` s from now."""
    for key in (keys.delivery(did), keys.delivery_attempts(did), keys.delivery_request(did)):
        pipe.expire(key, max(1, math.ceil(ttl)))


def for_article(ctx: Context, article_id: str) -> list[dict[str, Any]]:
    ids = sorted(i.decode() for i in ctx.redis.smembers(ctx.keys.article_deliveries(article_id)))
    recs = get_many(ctx, ids)
    return sorted(recs, key=lambda r: (r.get("created_at", 0), r["partner"]))


def queue_trim_history(pipe, keys, partner_id: str, cutoff: float) -> None:
    """Queue dropping the partner's listing entries created before `cutoff` (retention.py); one answer."""
    pipe.zremrangebyscore(keys.partner_history(partner_id), "-inf", f"({cutoff}")


def queue_cap_history(pipe, keys, partner_id: str, keep: int) -> None:
    """Queue keeping only the newest `keep` entries of a listing (hub subscribers: bounded without a scan)."""
    pipe.zremrangebyrank(keys.partner_history(partner_id), 0, -keep - 1)


def queue_forget(pipe, keys, partner_id: str) -> None:
    """Queue dropping the listing of a target that no longer exists (its records expire on their own)."""
    pipe.delete(keys.partner_history(partner_id))


def for_partner(ctx: Context, partner_id: str, *, state: str | None = None, since: float | None = None,
                limit: int = 100) -> list[dict[str, Any]]:
    """A partner's deliveries, newest first; scans at most 20 x limit records when filtering by state."""
    ids = [i.decode() for i in ctx.redis.zrevrangebyscore(
        ctx.keys.partner_history(partner_id), "+inf", since if since is not None else "-inf",
        start=0, num=limit * (20 if state else 1))]
    recs = get_many(ctx, ids)
    if state:
        recs = [r for r in recs if r["status"] == state]
    return recs[:limit]
