"""Caps on request bodies, enforced before the body is read.

`BodyLimit` is the outermost ASGI layer of the served app. Without it, any
route that reads a body (the /ops login form, FastAPI's own parsing) would
buffer whatever an anonymous client sends: a 50 MiB login body once cost
the API 100 MB of memory. It answers 413 from the declared Content-Length
alone, without reading a byte, and counts a streamed (chunked) body as it
arrives, cutting it off at the cap.

    POST /v1/events    1 MiB  (events.MAX_EVENT_BYTES; the route checks again)
    anything else     16 KiB

`read_body` is for routes that want a smaller cap still (the /ops forms).
"""

from __future__ import annotations

import json

import redis
from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from syndication.infra import metrics
from syndication.events import MAX_EVENT_BYTES

DEFAULT_CAP = 16 * 1024
CAPS = {("POST", "/v1/events"): MAX_EVENT_BYTES}


def cap_for(method: str, path: str) -> int:
    return CAPS.get((method, path), DEFAULT_CAP)


def human(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the cap.

    An HTTPException, so FastAPI's body parsing passes it on instead of
    turning it into a 400, and the app handles it without logging a traceback.
    """

    def __init__(self, cap: int):
        super().__init__(413, f"body exceeds the limit of {cap} bytes ({human(cap)})")


async def read_body(request: Request, cap: int) -> bytes:
    """The body, refused with 413 past `cap` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise HTTPException(413, f"body is {declared} bytes; the limit is {cap} bytes ({human(cap)})")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise HTTPException(413, f"body exceeds the limit of {cap} bytes ({human(cap)})")
        chunks.append(chunk)
    return b"".join(chunks)


class BodyLimit:
    """ASGI layer: no body larger than its route's cap reaches the app.

    `state` (the app's state) lets a refused POST /v1/events count as a
    rejected event, as the route's own 413 does. `headers_for(path)` adds
    headers to the 413 (the /ops security headers).
    """

    def __init__(self, app, state=None, headers_for=None):
        self.app = app
        self.state = state
        self.headers_for = headers_for

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = cap_for(scope["method"], scope["path"])
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > cap:
            # Answered from the header alone: the body is never read (the server discards it).
            await self._refuse(scope, send, f"body is {declared.decode()} bytes; the limit is {cap} bytes "
                                            f"({human(cap)})")
            return

        received = 0
        cut = False
        started = False

        async def limited_receive():
            nonlocal received, cut
            if cut:
                raise BodyTooLarge(cap)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    cut = True
                    raise BodyTooLarge(cap)
            return message

        async def guarded_send(message):
            nonlocal started
            if cut:
                return  # whatever the app answers to the cut body, the 413 below is the answer
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass  # the app let it through; answered below
        if cut and not started:
            await self._refuse(scope, send, f"body exceeds the limit of {cap} bytes ({human(cap)})")

    async def _refuse(self, scope, send, detail: str) -> None:
        body = json.dumps({"error": "body_too_large", "detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if self.headers_for is not None:
            headers += self.headers_for(scope["path"])
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if self.state is not None and scope["path"] == "/v1/events":
            await run_in_threadpool(self._count_rejected)

    def _count_rejected(self) -> None:
        ctx = self.state.ctx
        try:
            metrics.inc(ctx.redis, ctx.keys, "events_rejected", reason="body_too_large")
        except redis.RedisError:
            pass  # counting must never turn a 413 into a 5xx
