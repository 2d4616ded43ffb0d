"""POST /v1/events: validate, store durably, enqueue; 202 once all of that is done."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from .. import ingest, metrics
from ..events import MAX_EVENT_BYTES
from .auth import require

router = APIRouter()


async def read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise HTTPException(413, f"body is {declared} bytes; the limit is {cap} bytes (1 MiB)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise HTTPException(413, f"body exceeds the limit of {cap} bytes (1 MiB)")
        chunks.append(chunk)
    return b"".join(chunks)


def require_json(request: Request) -> None:
    """415 unless the body says it is JSON (`application/json` or `application/<x>+json`)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise HTTPException(415, f"Content-Type must be application/json, not {media or 'missing'!r}")


@router.post(
    "/v1/events", status_code=202, tags=["events"],
    responses={200: {"description": "repeat of an accepted event id"}, 401: {}, 413: {}, 422: {}, 503: {}},
)
async def post_event(request: Request):
    """Accept an article event (see `syndication schema` for the body)."""
    app = request.app.state
    require(request, app.settings.api_keys, "publisher")
    require_json(request)
    raw = await read_capped(request, MAX_EVENT_BYTES)
    from starlette.concurrency import run_in_threadpool

    accepted = await run_in_threadpool(ingest.accept, app.ctx, raw, app.enqueue_apply)
    if accepted.created:
        metrics.inc(app.ctx.redis, app.ctx.keys, "events_accepted", type=accepted.type)
    return JSONResponse(accepted.body(), status_code=202 if accepted.created else 200)
