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
from typing import Awaitable, Callable

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
    """Validate `raw`, store it (with `trace`, tracecontext.envelope), enqueue its application.
    Raises InvalidEvent, NotReplicated."""
    event = parse_event(raw)
    store = _Store(ctx, event, trace)
    replies = None
    while (commands := store.next(replies)) is not None:
        pipe = ctx.redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        replies = pipe.execute(raise_on_error=False)
    if store.kicked:
        enqueue(FollowUp(events=[event.event_id]))
    return store.settle()


async def accept_async(ctx: Context, aredis, event, enqueue: Callable[[FollowUp], Awaitable[None]],
                       trace: dict | None = None) -> Accepted:
    """`accept` for an event already validated, on an asyncio Redis client (the API)."""
    store = _Store(ctx, event, trace)
    replies = None
    while (commands := store.next(replies)) is not None:
        pipe = aredis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        replies = await pipe.execute(raise_on_error=False)
    if store.kicked:
        await enqueue(FollowUp(events=[event.event_id]))
    return store.settle()


class _Store:
    """The store call's round trips, whatever the client (sync or asyncio): `next(replies)` gives the
    commands to send (None: done), `kicked` says whether to queue a batch, `settle` the answer.

    One round trip: the store script by SHA and, with SYNDICATION_REDIS_MIN_REPLICAS, a WAIT on
    the same connection. A Redis that lacks the script (restarted, or a failover's new primary)
    answers NOSCRIPT: it is loaded and the round trip made once more. The batch is queued even
    when too few replicas confirm (other events may wait on that marker, and the primary applies
    it if it lives); the client's retry gets the answer."""

    def __init__(self, ctx: Context, event, trace: dict | None):
        self.ctx, self.event, self.trace = ctx, event, trace
        self.sha = ctx.script(_STORE).sha
        self.replicas = ctx.settings.redis_min_replicas
        self.loaded = False
        self.prior, self.kicked, self.confirmed = b"", 0, None

    def next(self, replies: list | None) -> list[tuple] | None:
        if replies is None or (isinstance(replies[0], NoScriptError) and not self.loaded):
            if replies is not None:
                self.loaded = True
                return [("SCRIPT", "LOAD", _STORE), *self._round_trip()]
            return self._round_trip()
        replies = replies[-(2 if self.replicas else 1):]  # after a SCRIPT LOAD: the store's own
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        (self.prior, self.kicked), self.confirmed = replies[0], (replies[1] if self.replicas else None)
        return None

    def _round_trip(self) -> list[tuple]:
        keys, args = store_call(self.ctx, self.event, self.trace)
        commands = [("EVALSHA", self.sha, len(keys), *keys, *args)]
        if self.replicas:
            commands.append(("WAIT", self.replicas, max(1, int(self.ctx.settings.redis_replica_timeout * 1000))))
        return commands

    def settle(self) -> Accepted:
        """Say what happened; NotReplicated when too few replicas hold the event (not acknowledged)."""
        event = self.event
        context = {"event_id": event.event_id, "article_id": event.article.id, "version": event.article.version}
        if self.confirmed is not None and int(self.confirmed) < self.replicas:
            log.warning("event not confirmed by enough replicas", extra={
                **context, "replicas": int(self.confirmed), "wanted": self.replicas, "outcome": "not_replicated"})
            raise NotReplicated(f"{self.confirmed} of {self.replicas} replicas confirmed event {event.event_id}")
        if self.prior:
            log.info("event repeated", extra={**context, "outcome": "repeat"})
            return Accepted(event.event_id, created=False, type=event.type)
        log.info("event accepted", extra={**context, "outcome": "accepted"})
        return Accepted(event.event_id, created=True, type=event.type)


def store_call(ctx: Context, event, trace: dict | None = None) -> tuple[list[str], list]:
    """The keys and arguments of the store script for `event`; `trace` goes in the stored envelope."""
    body = event.model_dump_json()
    if trace:  # beside event_id and article, not in the article: the schema ignores it on input
        body = body[:-1] + ',"trace":' + json.dumps(trace, separators=(",", ":")) + "}"
    return ([ctx.keys.event(event.event_id), ctx.keys.events_pending, ctx.keys.events_kick,
             ctx.keys.metric("events_accepted")],
            [body, event.type, event.article.id, event.article.version, time.time(), EVENT_TTL,
             event.event_id, metrics.series(type=event.type), "1" if ctx.settings.redis_min_replicas else "0"])


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
