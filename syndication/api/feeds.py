"""Serving feeds: stored bytes from Redis, conditional GET, gzip, WebSub links.

Nothing is rendered or compressed here: the render task stored the plain
and gzipped bytes with their ETag and Last-Modified. A request costs one
Redis HMGET (two fields for a 304 check, three for a body).
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from fastapi import APIRouter, HTTPException, Request, Response

from ..feeds.render import feed_url
from ..feeds.spec import FORMATS
from .auth import bearer, key_matches

router = APIRouter()


def _not_modified(request: Request, etag: str, last_modified: str) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError):
            return False
    return False


def _wants_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


@router.get("/feeds", tags=["feeds"])
def list_feeds(request: Request):
    settings = request.app.state.settings
    return {"feeds": [
        {"name": f.name, "title": f.display_title, "language": f.language, "access": f.access,
         "urls": {fmt: feed_url(settings.base_url, f.name, fmt) for fmt in FORMATS}}
        for f in settings.feeds
    ]}


@router.api_route("/feeds/{filename}", methods=["GET", "HEAD"], tags=["feeds"])
async def get_feed(filename: str, request: Request):
    state = request.app.state
    name, _, fmt = filename.rpartition(".")
    spec = state.settings.feed(name)
    if spec is None or fmt not in FORMATS:
        raise HTTPException(404, f"no feed {filename!r}; GET /feeds lists them")
    if spec.access == "partner" and not key_matches(bearer(request), state.feed_keys):
        raise HTTPException(401, "this feed is for partners: send 'Authorization: Bearer <partner feed key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    key = state.ctx.keys.feed_rendered(name, fmt)
    etag, last_modified, ctype = await state.aredis.hmget(key, "etag", "last_modified", "content_type")
    if etag is None:
        raise HTTPException(503, f"feed {name!r} is not rendered yet; try again shortly",
                            headers={"Retry-After": "2"})
    etag, last_modified = etag.decode(), last_modified.decode()
    headers = {
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": f"public, max-age={spec.ttl * 60}",
        "Vary": "Accept-Encoding",
    }
    hub = state.settings.websub_hub
    if hub:
        headers["Link"] = f'<{hub}>; rel="hub", <{feed_url(state.settings.base_url, name, fmt)}>; rel="self"'
    if _not_modified(request, etag, last_modified):
        return Response(status_code=304, headers=headers)
    gz = _wants_gzip(request)
    body = None
    if request.method == "GET":
        body = await state.aredis.hget(key, "gzip" if gz else "body")
    if gz:
        headers["Content-Encoding"] = "gzip"
    resp = Response(content=body or b"", media_type=ctype.decode(), headers=headers)
    if request.method == "HEAD":
        resp.headers["content-length"] = str(await state.aredis.hstrlen(key, "gzip" if gz else "body"))
    return resp
