"""The pull API: a partner reads its items from the change log with a cursor, instead of receiving pushes.

    GET /v1/partners/{id}/items?after=CURSOR&limit=N&wait=S
        Authorization: Bearer <that partner's pull token>
    -> {"items": [{"cursor", "article_id", "version", "type", "content_type", "item"}...], "next": CURSOR}

Items are the change log's entries (pipeline/changelog.py) in the order the
service applied them, kept when the partner's filters want the article (the
same `PartnerFilters.wants` fan-out uses for pushes; a withdrawal is judged
by the data it takes back) and rendered in the partner's push format, with
the delivery id a push of that version carries, so a partner that both
receives and pulls can dedupe. `next` is where to continue; it moves past
entries that did not match, so a partner with narrow filters never rescans
them. A client that always sends back the last `next` it got sees every
version of every article it wants exactly once, in order.

`wait` long-polls: when nothing is left to read, the request waits until a
matching item arrives or `wait` ends, without holding a Redis connection
(api/longpoll.py: one reader per API process wakes the waiters, which then
read with XRANGE). Open long polls are bounded per partner and in all, per
API process (`SYNDICATION_PULL_MAX_WAITS_PER_PARTNER`, default 50;
`SYNDICATION_PULL_MAX_WAITS`, default 500): past either, 429
`too_many_long_polls` with Retry-After. One request looks at MAX_SCAN
entries at most, so a partner whose filters match little still gets a prompt
answer (empty, with `next` moved on).

A page holds `limit` items and about PAGE_BYTES (1 MiB) of JSON at most,
always at least one item: past the budget it ends early, and `next` is the
cursor of its last item, so nothing is skipped. Filtering and rendering run
in the thread pool, never on the event loop, and the page's JSON is built
there too (the rendered JSON items are embedded as they are).

Cursors: only a text `next` / `cursor` gave out passes (base64url of a
stream id `ms-seq`, ASCII digits, each part at most 2^64-1); anything else is
422 naming `after`, never a Redis error. A cursor beyond the newest entry the
log ever had is 410, like a trimmed one: a store that lost data (a restore,
a failover to a lagging replica) or another deployment's cursor; either way
what it pointed at is not in this log, and the one safe way on is the same:
start again without `after` (delivery ids let a client drop repeats).

Errors: 401 without a recognised token, in one shape whatever the reason (no
such partner, a partner without `pull`, another partner's token, a wrong
one), so the answer tells nothing about which partner ids exist; wrong tokens
are throttled like every key (429 `too_many_attempts`). 403 for a disabled
partner (only with its own token), 410 for a cursor whose following entries
were trimmed (`SYNDICATION_CHANGELOG_RETENTION`) or that lies beyond the log,
422 for a malformed cursor or a `limit`/`wait` out of range, 429 past the
long-poll bounds.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import redis
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from syndication.api import longpoll, query, schema
from syndication.api.partner_auth import DISABLED, UNAUTHORISED, pull_partner
from syndication.delivery import records
from syndication.partners.formats import PUSH_FORMATS, Push
from syndication.pipeline import changelog

MAX_LIMIT = 500
MAX_WAIT = 30.0
SCAN_BATCH = 200  # entries read per round trip
MAX_SCAN = 5000  # entries looked at per request, matching or not
WAIT_SLICE = 2.0  # seconds a waiter sleeps between looks at its connection (and, reader down, the log)
PAGE_BYTES = 1 << 20  # JSON bytes of a page's items, past which it ends (it always has one item)


class PullItem(BaseModel):
    cursor: str = Field(description="Where this item is in the log: `after=` this cursor continues after it")
    article_id: str
    version: int
    type: Literal["published", "updated", "withdrawn"]
    content_type: str = Field(description="The media type of `item` in the partner's format")
    item: Any = Field(description="The version in the partner's push format: a JSON object for json, ninjs "
                                  "and ninjs3; the XML document as a string for atom and rss. A withdrawal "
                                  "is the format's tombstone")


class PullPage(BaseModel):
    items: list[PullItem]
    next: str = Field(description="Send it back as `after` for what follows (opaque; it moves past entries "
                                  "that did not match, so none is looked at twice)")


router = APIRouter(tags=["pull"], dependencies=[Depends(query.known_only)])

_GONE = {"model": schema.ErrorBody,
         "description": "The cursor is older than the retained log (`SYNDICATION_CHANGELOG_RETENTION`): "
                        "items after it were trimmed; or it lies beyond the newest entry the log ever had "
                        "(a store that lost data, another deployment's cursor). Start again without `after`"}


@router.get(
    "/v1/partners/{partner_id}/items", summary="A partner's items, by cursor (pull instead of push)",
    responses={200: {"model": PullPage}, 403: DISABLED, 410: _GONE,
               **schema.errors(401, 422, 429, 503,
                               e401=UNAUTHORISED,
                               e422="`after` is not a cursor, or `limit` / `wait` is out of range",
                               e429="Too many wrong tokens from this address (`too_many_attempts`), or too "
                                    "many open long polls (`wait`) for this partner or this server "
                                    "(`too_many_long_polls`): wait `Retry-After` seconds")},
)
async def pull_items(
    request: Request,
    partner=Depends(pull_partner),
    after: str | None = Query(None, max_length=100,
                              description="The `next` (or an item's `cursor`) of an earlier answer; "
                                          "omitted: from the oldest item kept"),
    limit: int = Query(50, ge=1, le=MAX_LIMIT, description="At most this many items (and about 1 MiB)"),
    wait: float = Query(0, ge=0, le=MAX_WAIT, description="Seconds to wait for a first item when none is there "
                                                          "yet (long poll)"),
):
    """The partner's items after `after`, in the order the service applied them, in its format.

    With `wait`, an answer that would be empty waits until an item arrives or `wait` seconds pass.
    Keep sending `next` back: every version of every article the partner wants comes exactly once."""
    state = request.app.state
    position = changelog.START
    if after is not None:
        try:
            position = changelog.position(after)
        except ValueError as exc:
            raise RequestValidationError([{"loc": ("query", "after"), "msg": str(exc), "type": "value_error"}])
        await _check_kept(state, position)
    if wait > 0:
        with longpoll.admit(state, partner.id):
            items, position = await _read(request, partner, position, limit, wait)
    else:
        items, position = await _read(request, partner, position, limit, wait)
    body = b'{"items":[' + b",".join(items) + b'],"next":' + json.dumps(changelog.cursor(position)).encode() + b"}"
    return Response(body, media_type="application/json")


async def _check_kept(state, position: str) -> None:
    """410 when entries after `position` were trimmed, or when no entry was ever there."""
    ctx, aredis = state.ctx, state.aredis
    if changelog.lost(position, await aredis.get(ctx.keys.changelog_trimmed)):
        raise HTTPException(410, "the cursor is older than the retained change log: items after it were "
                                 f"trimmed (retention {ctx.settings.changelog_retention:g} s); start again "
                                 "without `after`")
    watcher = longpoll.watcher(state)
    if not changelog.beyond(position, watcher.newest):
        return
    # Past what this process knows: ask the log itself (a cursor at the very end never gets here).
    try:
        last = (await aredis.xinfo_stream(ctx.keys.changelog))["last-generated-id"]
    except redis.ResponseError:  # no log at all: nothing was ever written (or it was lost)
        last = None
    watcher.saw(last)
    if changelog.beyond(position, last):
        raise HTTPException(410, "the cursor lies beyond the newest entry of the change log: it is not a cursor "
                                 "of this log (or the log lost entries); start again without `after`")


async def _read(request: Request, partner, position: str, limit: int, wait: float) -> tuple[list[bytes], str]:
    """Matching items (JSON) after `position`, and the position after the last entry taken."""
    state = request.app.state
    ctx, aredis, settings = state.ctx, state.aredis, state.ctx.settings
    key = ctx.keys.changelog
    watcher = longpoll.watcher(state) if wait > 0 else None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    page = _Page(partner, settings, limit)
    scanned = 0
    while not page.done and scanned < MAX_SCAN:
        token = watcher.token() if watcher else None  # before the read: growth after it wakes us
        raw = await aredis.xrange(key, min=f"({position}", max="+", count=SCAN_BATCH)
        if raw:
            taken, position = await run_in_threadpool(page.take, raw, position)
            scanned += taken
            continue
        if page.items or watcher is None:
            break
        while True:  # nothing after `position` yet: wait for the log to grow, the deadline, or a hang-up
            left = deadline - loop.time()
            if left <= 0 or await request.is_disconnected():
                return page.items, position
            if await watcher.wait(token, min(left, WAIT_SLICE)) or not watcher.healthy:
                break
    if page.items:
        watcher = watcher or longpoll.watcher(state)
        watcher.saw(position)
    return page.items, position


class _Page:
    """A page being filled: run in the thread pool (filters and rendering are CPU work)."""

    def __init__(self, partner, settings, limit: int):
        self.partner, self.settings, self.limit = partner, settings, limit
        self.items: list[bytes] = []
        self.size = 0
        self.done = False

    def take(self, raw: list, position: str) -> tuple[int, str]:
        """Add the matching entries of `raw` until the page is full; (entries taken, position after them).
        An entry that does not fit is not taken: the next page starts with it."""
        taken = 0
        for entry in changelog.parse(raw):
            if entry.data is not None and self.partner.filters.wants(entry.data, self.settings.feeds):
                item = _item(self.partner, entry, self.settings.base_url)
                if self.items and self.size + len(item) > PAGE_BYTES:
                    self.done = True
                    break
                self.items.append(item)
                self.size += len(item) + 1
            position = entry.stream_id
            taken += 1
            if len(self.items) >= self.limit:
                self.done = True
                break
        return taken, position


def _item(partner, entry: changelog.Entry, base_url: str) -> bytes:
    """One entry as the partner's push of that version would carry it (same delivery id), as JSON."""
    fmt = PUSH_FORMATS[partner.format]
    push = Push(delivery_id=records.delivery_id(entry.article_id, entry.version, partner.id),
                event_id=entry.event_id, event_type=f"article.{entry.kind}", article_id=entry.article_id,
                version=entry.version, article=entry.data, withdrawn=entry.withdrawn, reason=entry.reason,
                occurred_at=entry.occurred_at or None)
    body = fmt.render(push, base_url=base_url)
    head = json.dumps({"cursor": changelog.cursor(entry.stream_id), "article_id": entry.article_id,
                       "version": entry.version, "type": entry.kind, "content_type": fmt.media_type},
                      ensure_ascii=False, separators=(",", ":"))
    # A JSON format's body is a JSON document already: embedded as it is, not parsed and dumped again.
    item = body if fmt.media_type.endswith("json") else json.dumps(body.decode(), ensure_ascii=False).encode()
    return head[:-1].encode() + b',"item":' + item + b"}"
