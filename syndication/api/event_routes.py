"""POST /v1/events: validate, store durably, enqueue; 202 once all of that is done.

The route reads the body itself (after the key check, the Content-Type check and within the 1 MiB
cap), so FastAPI never parses it; the document gets the event schema as `requestBody` (schema.py).
Every accepted event is stored by `accept`, whether it came through this route or through the
fast path in front of the application (event_fast.py, which only ever takes good requests and
hands everything else here).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from syndication import tracing
from syndication.pipeline import ingest
from syndication.events import MAX_EVENT_BYTES, parse_event
from syndication.api import limits, query, schema
from syndication.api.auth import require

router = APIRouter()


def require_json(request: Request) -> None:
    """415 unless the body says it is JSON (`application/json` or `application/<x>+json`)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise HTTPException(415, f"Content-Type must be application/json, not {media or 'missing'!r}")


def publisher(request: Request, _: HTTPAuthorizationCredentials | None = Security(schema.PUBLISHER_KEY)) -> None:
    """401 (or the throttle's 429) unless the request has a publisher key. A dependency, so it runs
    before anything looks at the body; sync, so its Redis calls run in the threadpool."""
    require(request, request.app.state.settings.api_keys, "publisher")


@router.post(
    "/v1/events", status_code=202, tags=["events"], summary="Accept an article event",
    dependencies=[Depends(publisher), Depends(query.known_only)],
    openapi_extra={"requestBody": schema.EVENT_BODY},
    response_description="Stored and queued: it will be applied",
    responses={
        202: {"model": schema.EventAccepted},
        200: {"model": schema.EventAccepted,
              "description": "A repeat of an `event_id` already accepted: the same body, nothing changes"},
        **schema.errors(401, 413, 415, 422, 429, 503,
                        e422="Not a valid event: `problems` names each bad field (`error`: `invalid_event`)"),
    },
)
async def post_event(request: Request):
    """Accept an article event: 202 once it is stored durably and queued.

    Checked in this order: the publisher key (401), `Content-Type` (415), size (413), then the
    event itself (422). Posting an `event_id` again is safe: 200 with the same body."""
    app = request.app.state
    require_json(request)
    event = parse_event(await limits.read_body(request, MAX_EVENT_BYTES))
    with tracing.accept(request.headers) as trace:  # the publisher's traceparent, continued
        accepted = await accept(app, event, trace)
    return JSONResponse(accepted.body(), status_code=202 if accepted.created else 200)


async def accept(state, event, trace: dict | None = None) -> ingest.Accepted:
    """Store a valid event on the asyncio client (counted by the store itself) and queue its batch
    (the broker client is blocking: in the threadpool)."""
    return await ingest.accept_async(state.ctx, state.aredis, event,
                                     lambda follow: run_in_threadpool(state.enqueue, follow), trace)
