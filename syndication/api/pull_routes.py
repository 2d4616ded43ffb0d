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

`wait` long-polls: when nothing is left to read, the request waits (XREAD
BLOCK on the asyncio client, in slices shorter than its socket timeout, so
the event loop keeps serving) until a matching item arrives or `wait` ends.
One request looks at MAX_SCAN entries at most, so a partner whose filters
match little still gets a prompt answer (empty, with `next` moved on).

Errors: 401 without the partner's own token (another partner's token is
refused the same way; wrong tokens are throttled like every key), 404 for
an unknown partner or one without `pull` in the partners file, 403 for a
disabled one, 410 for a cursor whose following entries were trimmed
(`SYNDICATION_CHANGELOG_RETENTION`), 422 for a malformed cursor or a
`limit`/`wait` out of range.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from syndication.api import query, schema
from syndication.api.auth import bearer, check_key
from syndication.delivery import records
from syndication.partners.formats import PUSH_FORMATS, Push
from syndication.pipeline import changelog

MAX_LIMIT = 500
MAX_WAIT = 30.0
SCAN_BATCH = 200  # entries read per round trip
MAX_SCAN = 5000  # entries looked at per request, matching or not
BLOCK_SLICE = 2.0  # seconds per XREAD BLOCK: below the asyncio client's 5 s socket timeout

PULL_TOKEN = HTTPBearer(scheme_name="pullToken", auto_error=False,
                        description="A partner's pull token (`pull: {token_env: ...}` in the partners file): "
                                    "that partner's items, and no other partner's")


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


def _partner(partner_id: str, request: Request,
             _: HTTPAuthorizationCredentials | None = Security(PULL_TOKEN)):
    """The partner, if the request carries its pull token (a dependency: checked before the query)."""
    token = bearer(request)
    if token is None:
        raise HTTPException(401, "missing pull token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    ctx = request.app.state.ctx
    partner = ctx.settings.partner(partner_id)
    own = ctx.settings.secrets_for(partner_id).get("pull_token") if partner is not None and partner.pull else None
    # Compared (and throttled) even when there is nothing to compare with: no free oracle of ids.
    if check_key(request, token, (own,) if own else ()) is None:
        if own is None:
            raise HTTPException(404, f"no partner {partner_id!r} with pull access")
        raise HTTPException(401, f"pull token not recognised for partner {partner_id!r}",
                            headers={"WWW-Authenticate": "Bearer"})
    if not partner.enabled:
        raise HTTPException(403, f"partner {partner_id!r} is disabled")
    return partner


router = APIRouter(tags=["pull"], dependencies=[Depends(query.known_only)])

_DISABLED = {"model": schema.ErrorBody, "description": "The partner is disabled (`enabled: false`)"}
_GONE = {"model": schema.ErrorBody,
         "description": "The cursor is older than the retained log (`SYNDICATION_CHANGELOG_RETENTION`): "
                        "items after it were trimmed; start again without `after`"}


@router.get(
    "/v1/partners/{partner_id}/items", summary="A partner's items, by cursor (pull instead of push)",
    responses={200: {"model": PullPage}, 403: _DISABLED, 410: _GONE,
               **schema.errors(401, 404, 422, 429, 503,
                               e404="No such partner, or it has no `pull` token configured",
                               e422="`after` is not a cursor, or `limit` / `wait` is out of range")},
)
async def pull_items(
    request: Request,
    partner=Depends(_partner),
    after: str | None = Query(None, description="The `next` (or an item's `cursor`) of an earlier answer; "
                                                "omitted: from the oldest item kept"),
    limit: int = Query(50, ge=1, le=MAX_LIMIT, description="At most this many items"),
    wait: float = Query(0, ge=0, le=MAX_WAIT, description="Seconds to wait for a first item when none is there "
                                                          "yet (long poll)"),
):
    """The partner's items after `after`, in the order the service applied them, in its format.

    With `wait`, an answer that would be empty waits until an item arrives or `wait` seconds pass.
    Keep sending `next` back: every version of every article the partner wants comes exactly once."""
    ctx, aredis = request.app.state.ctx, request.app.state.aredis
    position = changelog.START
    if after is not None:
        try:
            position = changelog.position(after)
        except ValueError as exc:
            raise RequestValidationError([{"loc": ("query", "after"), "msg": str(exc), "type": "value_error"}])
        if changelog.lost(position, await aredis.get(ctx.keys.changelog_trimmed)):
            raise HTTPException(410, "the cursor is older than the retained change log: items after it were "
                                     f"trimmed (retention {ctx.settings.changelog_retention:g} s); start again "
                                     "without `after`")
    items, position = await _read(request, partner, position, limit, wait)
    return {"items": items, "next": changelog.cursor(position)}


async def _read(request: Request, partner, position: str, limit: int, wait: float) -> tuple[list[dict], str]:
    """Matching items after `position` and the position after the last entry looked at."""
    ctx, aredis = request.app.state.ctx, request.app.state.aredis
    key, settings = ctx.keys.changelog, ctx.settings
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    items: list[dict] = []
    scanned = 0
    while len(items) < limit and scanned < MAX_SCAN:
        raw = await aredis.xrange(key, min=f"({position}", max="+", count=SCAN_BATCH)
        if not raw:
            left = deadline - loop.time()
            if items or left <= 0 or await request.is_disconnected():
                break
            # An id, not "$": whatever was added since the XRANGE comes back at once, nothing is skipped.
            block = max(1, int(min(left, BLOCK_SLICE) * 1000))
            found = await aredis.xread({key: position}, count=SCAN_BATCH, block=block)
            if not found:
                continue
            raw = found[0][1]
        for entry in changelog.parse(raw):
            position = entry.stream_id
            scanned += 1
            if entry.data is not None and partner.filters.wants(entry.data, settings.feeds):
                items.append(_item(partner, entry, settings.base_url))
                if len(items) >= limit:
                    break
    return items, position


def _item(partner, entry: changelog.Entry, base_url: str) -> dict[str, Any]:
    """One entry as the partner's push of that version would carry it (same delivery id)."""
    fmt = PUSH_FORMATS[partner.format]
    push = Push(delivery_id=records.delivery_id(entry.article_id, entry.version, partner.id),
                event_id=entry.event_id, event_type=f"article.{entry.kind}", article_id=entry.article_id,
                version=entry.version, article=entry.data, withdrawn=entry.withdrawn, reason=entry.reason,
                occurred_at=entry.occurred_at or None)
    body = fmt.render(push, base_url=base_url)
    return {"cursor": changelog.cursor(entry.stream_id), "article_id": entry.article_id, "version": entry.version,
            "type": entry.kind, "content_type": fmt.media_type,
            "item": json.loads(body) if fmt.media_type.endswith("json") else body.decode()}
