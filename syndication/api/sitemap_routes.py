"""GET|HEAD /sitemaps/news.xml and /sitemaps/news/{feed}.xml: Google News sitemaps.

`/sitemaps/news.xml` lists the articles of every feed with a `news_sitemap` in the
feeds file; `/sitemaps/news/{feed}.xml` those of one such feed (a feed per language
gives a sitemap per language). Beyond 1,000 articles a sitemap is a sitemap index
whose pages are the same URL with `?page=N`. What is listed, and why: feeds/sitemap.py;
how the bytes are kept: feeds/sitemap_store.py. Conditional GET works as for feeds
(ETag / If-None-Match, Last-Modified / If-Modified-Since, 304).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Query, Request, Response

from syndication.errors import UnknownSitemap
from syndication.api import schema
from syndication.api.feed_routes import not_modified
from syndication.feeds import sitemap_store
from syndication.feeds.sitemap import CONTENT_TYPE

router = APIRouter()
MAX_AGE = 60  # seconds: crawlers poll; a change is seen within a minute even through caches

_HEADERS = {
    "ETag": {"description": "Changes when the file does", "schema": {"type": "string"}, "required": True},
    "Last-Modified": {"description": "When the file last changed (HTTP date)", "schema": {"type": "string"},
                      "required": True},
    "Cache-Control": {"schema": {"type": "string"}, "required": True},
}
_ROUTE = dict(
    tags=["sitemaps"], response_class=Response,
    responses={
        200: {"description": "A sitemap (`urlset` with Google News tags), or beyond 1,000 articles a "
                             "`sitemapindex` of its pages (no body for HEAD)",
              "content": {"application/xml": {"schema": {"type": "string"}}}, "headers": _HEADERS},
        304: {"description": "Not modified since `If-None-Match` / `If-Modified-Since`", "headers": _HEADERS},
        **schema.errors(404, e404="No news sitemap configured here (a feed's `news_sitemap` in the feeds "
                                  "file), or no such page"),
        **schema.errors(422), **schema.errors(503),
    },
)
Page = Query(default=None, ge=1, le=50, description="A page of a sitemap that is an index (it lists them)")


@router.api_route("/sitemaps/news.xml", methods=["GET", "HEAD"], summary="The Google News sitemap", **_ROUTE)
def news_sitemap(request: Request, page: int | None = Page):
    """Articles first published in the last two days, of every feed with a `news_sitemap`."""
    return _serve(request, None, page)


@router.api_route("/sitemaps/news/{filename}", methods=["GET", "HEAD"], summary="One feed's Google News sitemap",
                  **_ROUTE)
def feed_news_sitemap(filename: str, request: Request, page: int | None = Page):
    """`{feed}.xml`: articles first published in the last two days, of that feed (it needs a `news_sitemap`)."""
    feed, dot, ext = filename.rpartition(".")
    if not dot or ext != "xml":
        raise UnknownSitemap(f"no sitemap {filename!r}; news sitemaps are /sitemaps/news/{{feed}}.xml")
    return _serve(request, feed, page)


def _serve(request: Request, feed: str | None, page: int | None) -> Response:
    ctx = request.app.state.ctx
    specs = sitemap_store.sources(ctx.settings.feeds, feed)
    if not specs:
        where = "any feed" if feed is None else f"feed {feed!r}"
        raise UnknownSitemap(f"no news sitemap for {where}: give it `news_sitemap: {{publication: ...}}` "
                                 "in the feeds file")
    chosen, count = sitemap_store.fetch(ctx, feed, specs, time.time(), page or 0)
    if chosen is None or (page is not None and count == 1):
        raise UnknownSitemap(f"no page {page} of this sitemap: it has {max(count - 1, 0)} pages")
    headers = {"ETag": chosen.etag, "Last-Modified": chosen.last_modified,
               "Cache-Control": f"public, max-age={MAX_AGE}"}
    if not_modified(request.headers.get("if-none-match"), request.headers.get("if-modified-since"),
                    chosen.etag, chosen.last_modified):
        return Response(status_code=304, headers=headers)
    resp = Response(content=chosen.body if request.method == "GET" else b"", media_type=CONTENT_TYPE,
                    headers=headers)
    resp.headers["content-length"] = str(len(chosen.body))  # HEAD: the length a GET would get
    return resp
