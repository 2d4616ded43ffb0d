"""Serving feeds: stored bytes from Redis, conditional GET, gzip, WebSub links.

Nothing is rendered or compressed here: the render task stored the plain
and gzipped bytes with their ETag and Last-Modified. A request costs one
Redis HMGET for a 304 and one more HGET for a body.

Public feeds are answered by `FeedFastPath`, a plain ASGI layer in front of
FastAPI: partners poll feeds far more often than anything else, and the
framework's routing and request objects cost more CPU than the answer
itself. Everything else (errors, partner-only feeds, a feed not rendered yet)
goes through the FastAPI route below. Both answer a feed through one
coroutine, `stored_feed`, so their statuses and headers cannot drift apart;
the route's decorator documents them for the two.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from fastapi import APIRouter, HTTPException, Request, Response, Security
from redis.exceptions import RedisError

from syndication.feeds.render import CONTENT_TYPES, feed_url
from syndication.feeds.spec import FEED_FORMATS
from syndication.api import schema
from syndication.api.auth import bearer, check_key
from syndication.errors import UnknownFeed

router = APIRouter()


def not_modified(if_none_match: str | None, if_modified_since: str | None, etag: str, last_modified: str) -> bool:
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if if_modified_since:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
    return False


def wants_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def feed_headers(settings, spec, fmt: str, etag: str, last_modified: str) -> dict[str, str]:
    headers = {
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": f"public, max-age={spec.ttl * 60}",
        "Vary": "Accept-Encoding",
    }
    if settings.websub_hub:
        self_url = feed_url(settings.base_url, spec.name, fmt)
        headers["Link"] = f'<{settings.websub_hub}>; rel="hub", <{self_url}>; rel="self"'
    return headers


class FeedFastPath:
    """ASGI layer answering GET/HEAD of rendered public feeds (`stored_feed`); anything else goes to `app`."""

    def __init__(self, app, state):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and scope["path"].startswith("/feeds/"):
            try:
                if await self._serve(scope, send):
                    return
            except RedisError:
                pass  # nothing sent yet: the FastAPI route answers (503 if Redis is really down)
        await self.app(scope, receive, send)

    async def _serve(self, scope, send) -> bool:
        spec, fmt = _feed(self.state.settings, scope["path"][7:])
        if spec is None or spec.access != "public":
            return False  # the FastAPI route answers with the right error
        wanted = {k.decode(): v.decode("latin-1") for k, v in scope["headers"]
                  if k in (b"if-none-match", b"if-modified-since", b"accept-encoding")}
        answer = await stored_feed(self.state, spec, fmt, scope["method"], wanted)
        if answer is None:
            return False  # not rendered yet: the route's 503
        status, headers, body = answer
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]})
        await send({"type": "http.response.body", "body": body})
        return True


def _feed(settings, filename: str):
    """The feed spec and format a file name stands for (None, '' when it names none)."""
    name, _, fmt = filename.rpartition(".")
    spec = settings.feed(name)
    return (spec, fmt) if spec is not None and fmt in FEED_FORMATS else (None, "")


async def stored_feed(state, spec, fmt: str, method: str, wanted) -> tuple[int, dict[str, str], bytes] | None:
    """The answer to a GET or HEAD of a feed from its stored bytes: (200 or 304, headers, body);
    None when it is not rendered yet. `wanted`: the request's headers (lower-case names)."""
    key = state.ctx.keys.feed_rendered(spec.name, fmt)
    etag, last_modified, ctype = await state.aredis.hmget(key, "etag", "last_modified", "content_type")
    if etag is None:
        return None
    etag, last_modified = etag.decode(), last_modified.decode()
    headers = feed_headers(state.settings, spec, fmt, etag, last_modified)
    if not_modified(wanted.get("if-none-match"), wanted.get("if-modified-since"), etag, last_modified):
        state.metrics.feed_requests.labels("304").inc()
        return 304, headers, b""
    field = "gzip" if wants_gzip(wanted.get("accept-encoding", "")) else "body"
    if field == "gzip":
        headers["Content-Encoding"] = "gzip"
    headers["Content-Type"] = ctype.decode()
    if method == "HEAD":
        body = b""
        headers["Content-Length"] = str(await state.aredis.hstrlen(key, field))
    else:
        body = await state.aredis.hget(key, field) or b""
        headers["Content-Length"] = str(len(body))
    state.metrics.feed_requests.labels("200").inc()
    return 200, headers, body


_FEED_HEADERS = {
    "ETag": {"description": "Changes when the feed does", "schema": {"type": "string"}, "required": True},
    "Last-Modified": {"description": "When the feed last changed (HTTP date)", "schema": {"type": "string"},
                      "required": True},
    "Cache-Control": {"schema": {"type": "string"}, "required": True},
    "Vary": {"schema": {"type": "string"}, "required": True},
    "Link": {"description": "WebSub hub and self links, when a hub is configured", "schema": {"type": "string"}},
    "Content-Encoding": {"description": "`gzip` when the request accepts it", "schema": {"type": "string"}},
}
_FEED_BODIES = {
    "rss": {"schema": {"type": "string", "description": "RSS 2.0"}},
    "atom": {"schema": {"type": "string", "description": "Atom (RFC 4287)"}},
    "json": {"schema": {"type": "object", "description": "JSON Feed 1.1 (https://jsonfeed.org/version/1.1)",
                        "required": ["version", "title", "items"],
                        "properties": {"version": {"type": "string"}, "title": {"type": "string"},
                                       "items": {"type": "array", "items": {
                                           "type": "object", "required": ["id"],
                                           "properties": {"id": {"type": "string"}}}}}}},
}


@router.get("/feeds", tags=["feeds"], summary="The feeds and their URLs",
            responses={200: {"model": schema.FeedList}})
def list_feeds(request: Request):
    settings = request.app.state.settings
    return {"feeds": [
        {"name": f.name, "title": f.display_title, "language": f.language, "access": f.access,
         "urls": {fmt: feed_url(settings.base_url, f.name, fmt) for fmt in FEED_FORMATS}}
        for f in settings.feeds
    ]}


_FEED_ROUTE = dict(
    tags=["feeds"],
    # Public feeds need no key: the feed key scheme is listed next to an empty requirement.
    dependencies=[Security(schema.FEED_KEY)], openapi_extra={"security": [schema.ANONYMOUS]},
    response_class=Response,
    responses={
        200: {"description": "The stored bytes of the feed (no body for HEAD)",
              "content": {CONTENT_TYPES[fmt].split(";")[0]: _FEED_BODIES[fmt] for fmt in FEED_FORMATS},
              "headers": _FEED_HEADERS},
        304: {"description": "Not modified since `If-None-Match` / `If-Modified-Since`",
              "headers": {k: v for k, v in _FEED_HEADERS.items() if k != "Content-Encoding"}},
        **schema.errors(401, e401="A partner-only feed, and no valid partner feed key"),
        **schema.errors(429), **schema.errors(404, e404="No such feed or format; GET /feeds lists them"),
        **schema.errors(503, e503="Not rendered yet (just started, or the state store is unreachable): "
                                  "retry after `Retry-After` seconds"),
    },
)


# One route for both methods, so a 405 for any other says `Allow: GET, HEAD` (schema.install gives
# the two operations their own operationId).
@router.api_route("/feeds/{filename}", methods=["GET", "HEAD"], summary="A feed", **_FEED_ROUTE)
async def get_feed(filename: str, request: Request):
    """A feed in one format: `{name}.rss`, `{name}.atom` or `{name}.json`, as `GET /feeds` lists them.

    Conditional requests (`If-None-Match`, `If-Modified-Since`) get 304; `Accept-Encoding: gzip`
    gets the stored gzip bytes. Feeds with `access: partner` need `Authorization: Bearer <feed key>`."""
    state = request.app.state
    spec, fmt = _feed(state.settings, filename)
    if spec is None:
        raise UnknownFeed(f"no feed {filename!r}; GET /feeds lists them")
    token = bearer(request)
    if spec.access == "partner" and (token is None or check_key(request, token, state.feed_keys) is None):
        raise HTTPException(401, "this feed is for partners: send 'Authorization: Bearer <partner feed key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    answer = await stored_feed(state, spec, fmt, request.method, request.headers)
    if answer is None:
        raise HTTPException(503, f"feed {spec.name!r} is not rendered yet; try again shortly",
                            headers={"Retry-After": "2"})
    status, headers, body = answer
    return Response(content=body, status_code=status, headers=headers)
