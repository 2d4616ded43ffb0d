"""The fast path of POST /v1/events: a publisher's good event without the framework's per-request cost.

A newsroom's publishing system posts in bursts (a re-publish, a backfill, an election night), and
almost every one of those requests is good. This ASGI layer takes exactly those: a recognised
publisher key from a client the key throttle already knows to have no failures, a JSON content
type, a declared length within the event cap, no query string, a body that validates. It stores the
event as the route does (`event_routes.accept`, the one accept of the API) and answers as the route
would (202, or 200 for a repeat), with the same body.

Everything else goes on to the FastAPI route, with the body replayed to it if it was read: an
unknown or missing key, a throttled client, another content type, a chunked or oversized body,
an invalid event, a Redis error. The route gives the precise answer (401, 429, 415, 413, 422,
503), so every error has one source of truth, and the fast path can only ever say yes.
"""

from __future__ import annotations

import json

from redis.exceptions import RedisError

from syndication import tracing
from syndication.api import auth, event_routes
from syndication.errors import InvalidEvent, SyndicationError
from syndication.events import MAX_EVENT_BYTES, parse_event


class EventFastPath:
    def __init__(self, app, state):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if (scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/v1/events"
                or scope.get("query_string")):
            return await self.app(scope, receive, send)
        body = await self._read_if_ours(scope, receive)
        if body is None:
            return await self.app(scope, receive, send)
        with tracing.accept(scope["headers"]) as trace:  # the publisher's traceparent, continued
            answer = await self._accept(body, trace)
        if answer is None:
            return await self.app(scope, _replay(body, receive), send)
        status, payload = answer
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    async def _read_if_ours(self, scope, receive) -> bytes | None:
        """The body, if the request may take the fast path; None (nothing read) if not."""
        headers = {k: v for k, v in scope["headers"] if k in (b"authorization", b"content-type", b"content-length")}
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if media != b"application/json":
            return None
        try:
            length = int(headers.get(b"content-length", b"-1"))
        except ValueError:
            return None
        if not 0 < length <= MAX_EVENT_BYTES:
            return None
        guard = getattr(self.state, "auth_throttle", None)
        client = scope["client"][0] if scope.get("client") else "unknown"
        if guard is None or not guard.known_clean(client):
            return None  # the route looks the client up (and creates the throttle)
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or auth.matching_key(token.strip(), self.state.settings.api_keys) is None:
            return None  # the route compares again, counts the failure, answers 401
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if not message.get("more_body"):
                return b"".join(chunks)
            if size > length:
                return b"".join(chunks)  # longer than declared: the route (and BodyLimit) decide

    async def _accept(self, body: bytes, trace: dict) -> tuple[int, bytes] | None:
        try:
            event = parse_event(body)
        except InvalidEvent:
            return None
        try:
            accepted = await event_routes.accept(self.state, event, trace)
        except (RedisError, SyndicationError):
            # Stored or not, queued or not: the route's store is idempotent, queues again, and
            # answers 503 if Redis or the broker is really down, or if the replicas still have not
            # confirmed the event (NotReplicated, SYNDICATION_REDIS_MIN_REPLICAS: its WAIT is a second chance).
            return None
        return (202 if accepted.created else 200), json.dumps(accepted.body()).encode()


def _replay(body: bytes, receive):
    """A `receive` that hands the app the body already read, then the connection's own messages."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
