"""Accepting an event: validate, store durably, remember the event id, hand it on.

Accepted means durable: the event body, its idempotency record and its
place in `events:pending` are written in one Lua call *before* anything is
enqueued. Events are applied in batches: the same call takes the
`events:kick` marker, and only the request that took it enqueues an apply
batch (one Celery message per batch, not per event); the batch drains
`events:pending` (`claim`). If the enqueue is lost (crash, broker hiccup)
the sweeper re-drives from `events:pending`; if the client retries, the
stored outcome is returned and nothing happens twice.

Durable across a Redis failover (SYNDICATION_REDIS_MIN_REPLICAS=N): Redis
replicates asynchronously, so an event stored on the primary alone dies with
it. The store call and a `WAIT N timeout` go down one connection in one round
trip (WAIT counts the replicas holding that connection's last write); fewer
than N confirmations raise NotReplicated (503: the client retries with the
same event_id, and the retry waits again). A repeat writes too, so its WAIT
covers the original's write.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Callable

from redis.exceptions import NoScriptError

from syndication.errors import NotReplicated
from syndication.infra import metrics
from syndication.infra.context import Context
from syndication.events import parse_event
from syndication.pipeline.followup import FollowUp
from syndication.infra.keys import EVENT_TTL

log = logging.getLogger("syndication.ingest")

# KEYS[1] event hash, KEYS[2] events:pending, KEYS[3] events:kick, KEYS[4] the events_accepted metric.
# ARGV: body, type, article_id, version, now, ttl, event_id, the metric's field, '1' if replicas are awaited.
# Returns {'' when stored now, else the stored status (the original outcome); 1 if a batch must be queued}.
_STORE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status then
  if status == 'accepted' then  -- stored, maybe never queued (the API died in between): queue again
    redis.call('SET', KEYS[3], ARGV[5], 'EX', 60)
    return {status, 1}
  end
  if ARGV[9] == '1' then redis.call('HSET', KEYS[1], 'status', status) end  -- a write for WAIT to count
  return {status, 0}
end
redis.call('HSET', KEYS[1], 'body', ARGV[1], 'type', ARGV[2], 'article_id', ARGV[3],
           'version', ARGV[4], 'received_at', ARGV[5], 'status', 'accepted')
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[7])
redis.call('HINCRBYFLOAT', KEYS[4], ARGV[8], 1)
return {'', redis.call('SET', KEYS[3], ARGV[5], 'NX', 'EX', 60) and 1 or 0}
"""

# KEYS[1] events:kick. ARGV: now, older_than ('' = only if none). Returns 1 if a batch must be queued.
_KICK = """
local at = redis.call('GET', KEYS[1])
if at and (ARGV[2] == '' or tonumber(at) > tonumber(ARGV[1]) - tonumber(ARGV[2])) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', 60)
return 1
"""

# KEYS[1] events:pending. ARGV: now, limit, due again at. Takes up to `limit` due events, oldest first.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], 'XX', ARGV[3], id) end
return ids
"""


@dataclass(frozen=True)
class Accepted:
    event_id: str
    created: bool  # False: a repeat of an event id already stored
    type: str = ""

    def body(self) -> dict:
        return {"event_id": self.event_id, "status": "accepted"}


def accept(ctx: Context, raw: bytes, enqueue: Callable[[FollowUp], None], trace: dict | None = None) -> Accepted:
    """Validate `raw`, store it (with `trace`, tracecontext.envelope), enqueue its application. Raises InvalidEvent."""
    event = parse_event(raw)
    keys, args = store_call(ctx, event, trace)
    replicas = ctx.settings.redis_min_replicas
    if not replicas:
        prior, kicked = ctx.script(_STORE)(keys=keys, args=args)
        return stored(event, prior, kicked, enqueue)
    script = ctx.script(_STORE)
    for _ in (1, 2):  # the second after loading the script (a failover's new primary lacks it)
        pipe = ctx.redis.pipeline(transaction=False)
        pipe.evalsha(script.sha, len(keys), *keys, *args)
        pipe.execute_command("WAIT", replicas, _wait_ms(ctx))
        (outcome, confirmed) = pipe.execute(raise_on_error=False)
        if not isinstance(outcome, NoScriptError):
            break
        ctx.redis.script_load(_STORE)
    prior, kicked = _outcome(outcome, confirmed)
    if int(confirmed) < replicas:
        if kicked:
            enqueue(FollowUp(events=[event.event_id]))
        raise _not_replicated(event, confirmed, replicas)
    return stored(event, prior, kicked, enqueue)


async def accept_parsed(ctx: Context, aredis, event, enqueue_async, trace: dict | None = None) -> Accepted:
    """`accept` for an event already validated, on an asyncio Redis client (the API's fast path)."""
    keys, args = store_call(ctx, event, trace)
    script = ctx.__dict__.get("_async_store")
    if script is None:
        script = ctx.__dict__["_async_store"] = aredis.register_script(_STORE)
    replicas = ctx.settings.redis_min_replicas
    if not replicas:
        prior, kicked = await script(keys=keys, args=args)
        confirmed = None
    else:
        for _ in (1, 2):
            pipe = aredis.pipeline(transaction=False)
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            pipe.execute_command("WAIT", replicas, _wait_ms(ctx))
            (outcome, confirmed) = await pipe.execute(raise_on_error=False)
            if not isinstance(outcome, NoScriptError):
                break
            await aredis.script_load(_STORE)
        prior, kicked = _outcome(outcome, confirmed)
    if kicked:
        await enqueue_async(FollowUp(events=[event.event_id]))
    if confirmed is not None and int(confirmed) < replicas:
        raise _not_replicated(event, confirmed, replicas)
    return stored(event, prior, False, None)


def _wait_ms(ctx: Context) -> int:
    return max(1, int(ctx.settings.redis_replica_timeout * 1000))


def _outcome(outcome, confirmed) -> tuple:
    for reply in (outcome, confirmed):
        if isinstance(reply, Exception):
            raise reply
    return outcome


def _not_replicated(event, confirmed: int, replicas: int) -> NotReplicated:
    """Too few replicas hold the event: not acknowledged. Its batch is queued all the same (other
    events may wait on that marker, and the primary applies it if it lives); the retry answers."""
    log.warning("event not confirmed by enough replicas", extra={
        "event_id": event.event_id, "replicas": int(confirmed), "wanted": replicas, "outcome": "not_replicated"})
    return NotReplicated(f"{confirmed} of {replicas} replicas confirmed event {event.event_id}")


def store_call(ctx: Context, event, trace: dict | None = None) -> tuple[list[str], list]:
    """The keys and arguments of the store script for `event`; `trace` goes in the stored envelope."""
    body = event.model_dump_json()
    if trace:  # beside event_id and article, not in the article: the schema ignores it on input
        body = body[:-1] + ',"trace":' + json.dumps(trace, separators=(",", ":")) + "}"
    return ([ctx.keys.event(event.event_id), ctx.keys.events_pending, ctx.keys.events_kick,
             ctx.keys.metric("events_accepted")],
            [body, event.type, event.article.id, event.article.version, time.time(), EVENT_TTL,
             event.event_id, metrics.series(type=event.type), "1" if ctx.settings.redis_min_replicas else "0"])


def stored(event, prior: bytes, kicked: int, enqueue: Callable[[FollowUp], None] | None) -> Accepted:
    """After the store script: queue a batch if this request took the marker; say what happened."""
    if kicked:
        enqueue(FollowUp(events=[event.event_id]))
    context = {"event_id": event.event_id, "article_id": event.article.id, "version": event.article.version}
    if prior:
        log.info("event repeated", extra={**context, "outcome": "repeat"})
        return Accepted(event.event_id, created=False, type=event.type)
    log.info("event accepted", extra={**context, "outcome": "accepted"})
    return Accepted(event.event_id, created=True, type=event.type)


def load(ctx: Context, event_id: str) -> dict | None:
    body = ctx.redis.hget(ctx.keys.event(event_id), "body")
    return json.loads(body) if body else None


def claim(ctx: Context, limit: int) -> list[str]:
    """Take up to `limit` due events for one apply batch, oldest first.

    Each is due again `event_redrive_after` seconds from now: if this batch dies, another takes
    it then; once applied it leaves `events:pending`.
    """
    now = time.time()
    ids = ctx.script(_CLAIM)(keys=[ctx.keys.events_pending],
                             args=[now, limit, now + ctx.settings.event_redrive_after])
    return [i.decode() for i in ids]


def kick(ctx: Context, older_than: float | None = None) -> bool:
    """Take the apply-batch marker: True if the caller must queue a batch.

    With `older_than`, also take it from a batch queued that long ago and not started (its message
    was lost, or the events worker is down: one more is queued per window, not one per sweep).
    """
    return bool(ctx.script(_KICK)(keys=[ctx.keys.events_kick],
                                  args=[time.time(), "" if older_than is None else older_than]))


def start_batch(ctx: Context) -> None:
    """A batch starts: events accepted from now on queue the next one."""
    ctx.redis.delete(ctx.keys.events_kick)


def due(ctx: Context, older_than: float = 0.0, limit: int = 500) -> list[str]:
    """Events waiting to be applied for at least `older_than` seconds (unclaimed, or their claim ran out)."""
    now = time.time()
    return [i.decode() for i in ctx.redis.zrangebyscore(ctx.keys.events_pending, "-inf", now - older_than, 0, limit)]
