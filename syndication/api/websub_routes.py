"""Our own WebSub hub's endpoint (W3C WebSub 5.1): `POST /websub`, form-encoded, no key.

    hub.mode=subscribe|unsubscribe  hub.topic=<one of our feed URLs>  hub.callback=<http(s) URL>
    [hub.lease_seconds=N] [hub.secret=<under 200 bytes>]     -> 202, the verification follows

Unknown parameters are ignored (the Recommendation says so). Everything is checked in
websub/requests.py; a refusal is the API's JSON error naming the problem (400, 403, 404, 415, 429
with Retry-After), never a 500. Feeds advertise this URL as rel="hub" when it is our own hub.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from syndication.api import schema
from syndication.api.throttle import client
from syndication.websub import counting, requests as hub_requests

router = APIRouter(tags=["websub"])
FORM = "application/x-www-form-urlencoded"


# The form, as the contract shows it (read by hand below: unknown parameters must be ignored, not refused).
BODY = {"required": True, "content": {FORM: {"schema": {
    "type": "object", "required": ["hub.mode", "hub.topic", "hub.callback"],
    "properties": {
        "hub.mode": {"type": "string", "enum": ["subscribe", "unsubscribe"]},
        "hub.topic": {"type": "string", "description": "one of our feed URLs: {base}/feeds/{name}.{rss,atom,json}"},
        "hub.callback": {"type": "string", "description": "an http(s) URL on a public address"},
        "hub.lease_seconds": {"type": "string", "pattern": "^[0-9]{1,10}$",
                              "description": "seconds; held to the hub's bounds"},
        "hub.secret": {"type": "string", "maxLength": 199,
                       "description": "signs content: X-Hub-Signature: sha256=<HMAC of the body>"}}}}}}


@router.post("/websub", status_code=202, response_class=Response, openapi_extra={"requestBody": BODY},
             responses={202: {"description": "accepted: the verification of intent follows (a GET of the "
                                             "callback with hub.challenge)"}, **schema.errors(
                 400, 403, 404, 415, 429, e400="A parameter is missing or wrong (`detail` names it)",
                 e403="A callback on a loopback or private network, or a topic that needs a partner key",
                 e404="hub.topic is not one of our feeds, an unsubscribe of no subscription, or no hub of our own",
                 e415="The body is not application/x-www-form-urlencoded",
                 e429="Too many requests from this address, or the hub's subscription caps are reached "
                      "(`detail` says which; `Retry-After`)")})
async def websub(request: Request) -> Response:
    """Subscribe to or unsubscribe from one of our feeds (W3C WebSub): form fields hub.mode, hub.topic,
    hub.callback, optional hub.lease_seconds and hub.secret."""
    ctx = request.app.state.ctx
    if not ctx.settings.websub_own_hub:  # before the form is looked at: no hub, whatever is sent
        return _refused(404, "no_hub", "this service runs no WebSub hub of its own (SYNDICATION_WEBSUB_HUB)")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        await run_in_threadpool(counting.request, ctx, {}, "unsupported_media_type")
        return _refused(415, "unsupported_media_type", f"send the request as {FORM}")
    raw = (await request.body()).decode("utf-8", "replace")
    form = dict(parse_qsl(raw, keep_blank_values=True))  # unknown parameters: ignored
    try:
        await run_in_threadpool(hub_requests.accept, ctx, form, client(request))
    except hub_requests.Refused as exc:
        await run_in_threadpool(counting.request, ctx, form, exc.error)  # by mode and result, never by client
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return _refused(exc.status, exc.error, exc.detail, headers)
    await run_in_threadpool(counting.request, ctx, form)
    return Response(status_code=202)


def _refused(status: int, error: str, detail: str, headers=None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)
