"""Accepting an event: validate, store durably, remember the event id, hand it on.

Accepted means durable: the event body, its idempotency record and its
place in `events:pending` are written in one Lua call *before* the apply
task is enqueued. If the enqueue is lost (crash, broker hiccup) the sweeper
re-drives the event from `events:pending`; if the client retries, the
stored outcome is returned and nothing happens twice.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Callable

from syndication.infra.context import Context
from syndication.events import parse_event
from syndication.pipeline.followup import FollowUp
from syndication.infra.keys import EVENT_TTL

log = logging.getLogger("syndication.ingest")

# KEYS[1] event hash, KEYS[2] events:pending. ARGV: body, type, article_id, version, now, ttl, event_id
# Returns '' when stored now, else the stored status (the original outcome).
_STORE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status then return status end
redis.call('HSET', KEYS[1], 'body', ARGV[1], 'type', ARGV[2], 'article_id', ARGV[3],
           'version', ARGV[4], 'received_at', ARGV[5], 'status', 'accepted')
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[7])
return ''
"""


@dataclass(frozen=True)
class Accepted:
    event_id: str
    created: bool  # False: a repeat of an event id already stored
    type: str = ""

    def body(self) -> dict:
        return {"event_id": self.event_id, "status": "accepted"}


def accept(ctx: Context, raw: bytes, enqueue: Callable[[FollowUp], None]) -> Accepted:
    """Validate `raw`, store it, enqueue its application. Raises InvalidEvent."""
    event = parse_event(raw)
    body = event.model_dump_json()
    store = ctx.script(_STORE)
    prior = store(
        keys=[ctx.keys.event(event.event_id), ctx.keys.events_pending],
        args=[body, event.type, event.article.id, event.article.version, time.time(), EVENT_TTL,
              event.event_id],
    )
    context = {"event_id": event.event_id, "article_id": event.article.id, "version": event.article.version}
    if prior:
        if prior in (b"accepted", "accepted"):
            # Stored but maybe never queued (the API died in between): queue it again, it is idempotent.
            enqueue(FollowUp(events=[event.event_id]))
        log.info("event repeated", extra={**context, "outcome": "repeat"})
        return Accepted(event.event_id, created=False, type=event.type)
    enqueue(FollowUp(events=[event.event_id]))
    log.info("event accepted", extra={**context, "outcome": "accepted"})
    return Accepted(event.event_id, created=True, type=event.type)


def load(ctx: Context, event_id: str) -> dict | None:
    body = ctx.redis.hget(ctx.keys.event(event_id), "body")
    return json.loads(body) if body else None


def overdue(ctx: Context, older_than: float, limit: int = 500) -> list[str]:
    """Accepted events not yet applied after `older_than` seconds (for the sweeper).

    Each one returned is stamped `now` again, so it is re-driven once per
    `older_than`, not on every sweep: a slow backlog is not flooded with
    copies, and a failing event uses up its attempts at that pace.
    """
    now = time.time()
    ids = [i.decode() for i in ctx.redis.zrangebyscore(ctx.keys.events_pending, "-inf", now - older_than, 0, limit)]
    if ids:
        ctx.redis.zadd(ctx.keys.events_pending, {i: now for i in ids}, xx=True)
    return ids
