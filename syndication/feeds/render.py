"""Rendering a feed's items into RSS 2.0, Atom 1.0 (feedgen) and JSON Feed 1.1.

Pure functions of (feed spec, articles, base URL, hub, changed_at): no Redis,
no clock. The same state always renders the same bytes, so ETags are stable.
Articles arrive already cleaned (text.clean_article): sanitized HTML, no
XML-illegal characters, so rendering never fails on newsroom input.

Django's feedgenerator is the model: one small function per format, each
with its content type (`CONTENT_TYPES`).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator

from syndication import __version__
from syndication.text import as_html, plain_text
from syndication.feeds.ext import SyndEntryExtension, SyndFeedExtension
from syndication.feeds.links import as_uri, rss_url
from syndication.feeds.spec import FeedSpec
from syndication.identity import article_uri

CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def feed_url(base_url: str, name: str, fmt: str) -> str:
    return f"{base_url}/feeds/{name}.{fmt}"


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _updated(article: dict[str, Any]) -> datetime:
    return _dt(article.get("updated_at")) or _dt(article["published_at"])


def _description(article: dict[str, Any]) -> str:
    return article.get("summary") or plain_text(article.get("body_html", ""), limit=500)


def publisher(article: dict[str, Any]) -> str:
    """Who published it: `source`, else the host of the article URL. The Atom author of an
    article without authors, in feeds and pushes alike (one entry, one author: RFC 4287 4.2.6)."""
    return article.get("source") or urlsplit(article.get("url") or "").hostname or "syndication"


def _instant(ts: float) -> datetime:
    try:
        return datetime.fromtimestamp(ts, tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        return EPOCH  # stored before dates were bounded: never let it stop a render


def _build_date(articles: list[dict], changed_at: float) -> datetime:
    newest = max((_updated(a) for a in articles), default=EPOCH)
    changed = _instant(changed_at) if changed_at else EPOCH
    return max(newest, changed)


def _generator(spec: FeedSpec, articles: list[dict], base_url: str, hub: str | None,
               changed_at: float, fmt: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=True, rss=True)
    fg.register_extension("synd", SyndFeedExtension, SyndEntryExtension)
    fg.synd.hub = hub
    self_url = feed_url(base_url, spec.name, fmt)
    fg.id(feed_url(base_url, spec.name, "atom"))
    fg.title(spec.display_title)
    fg.description(spec.description or spec.display_title)
    fg.subtitle(spec.description or spec.display_title)
    fg.language(spec.language)
    fg.ttl(spec.ttl)
    fg.generator("syndication", __version__)
    fg.link(href=self_url, rel="self", type=CONTENT_TYPES[fmt].split(";")[0])
    if hub:
        fg.link(href=hub, rel="hub")
    # feedgen uses the *last* link added as the RSS channel <link>: add the alternate last.
    fg.link(href=f"{base_url}/feeds", rel="alternate", type="text/html")
    when = _build_date(articles, changed_at)
    fg.lastBuildDate(when)
    fg.updated(when)
    for article in articles:
        # RSS carries only the URLs it can (feeds/links.py): a link or image it cannot is left out.
        to_uri = rss_url if fmt == "rss" else as_uri
        url = to_uri(article["url"])
        images = [{**img, "url": u} for img in article.get("images") or [] if (u := to_uri(img["url"]))]
        fe = fg.add_entry(order="append")
        fe.id(article_uri(article["id"], base_url))
        fe.guid(article_uri(article["id"], base_url), permalink=False)
        fe.title(article["headline"])
        if fmt == "rss" and url:
            fe.link(href=url)  # RSS <link>; Atom links come from the extension
        fe.synd.alternate = url
        fe.synd.images = images
        fe.description(as_html(_description(article)))  # RSS <description> is HTML to readers
        fe.summary(_description(article))  # Atom <summary> (feedgen drops it when content is set)
        if article.get("body_html"):
            # type="html": the Atom-valid way; RSS gets it as content:encoded.
            fe.content(article["body_html"], type="html")
        for name in article.get("authors") or []:
            fe.dc.dc_creator(name)
        if fmt == "atom":  # RFC 4287 4.1.2: an entry MUST have an author (the feed has none of its own)
            for name in article.get("authors") or [publisher(article)]:
                fe.author({"name": name})
        for cat in article.get("categories") or []:
            fe.category(term=cat)
        fe.published(_dt(article["published_at"]))
        fe.updated(_updated(article))
        if fmt == "rss" and images:
            img = images[0]
            fe.enclosure(img["url"], str(img.get("length") or 0), img.get("mime_type") or "image/jpeg")
    return fg


def render_rss(spec, articles, base_url, hub=None, changed_at=0.0) -> bytes:
    return _generator(spec, articles, base_url, hub, changed_at, "rss").rss_str(pretty=False)


def render_atom(spec, articles, base_url, hub=None, changed_at=0.0) -> bytes:
    return _generator(spec, articles, base_url, hub, changed_at, "atom").atom_str(pretty=False)


def render_json(spec, articles, base_url, hub=None, changed_at=0.0) -> bytes:
    feed: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.display_title,
        "home_page_url": f"{base_url}/feeds",
        "feed_url": feed_url(base_url, spec.name, "json"),
        "description": spec.description or spec.display_title,
        "language": spec.language,
        "items": [],
    }
    if hub:
        feed["hubs"] = [{"type": "WebSub", "url": hub}]
    for a in articles:
        item: dict[str, Any] = {
            "id": article_uri(a["id"], base_url),
            "url": as_uri(a["url"]),
            "title": a["headline"],
            "summary": _description(a),
            "content_html": a.get("body_html") or f"<p>{as_html(_description(a))}</p>",
            "date_published": _dt(a["published_at"]).isoformat(),
            "date_modified": _updated(a).isoformat(),
            "language": a.get("language") or spec.language,
        }
        if a.get("authors"):
            item["authors"] = [{"name": n} for n in a["authors"]]
        if a.get("categories"):
            item["tags"] = list(a["categories"])
        if a.get("images"):
            item["image"] = as_uri(a["images"][0]["url"])
            item["attachments"] = [
                {"url": as_uri(i["url"]), "mime_type": i.get("mime_type") or "image/jpeg",
                 **({"title": i["caption"]} if i.get("caption") else {})}
                for i in a["images"]
            ]
        feed["items"].append(item)
    return json.dumps(feed, ensure_ascii=False, separators=(",", ":")).encode()


RENDERERS = {"rss": render_rss, "atom": render_atom, "json": render_json}


def render_every_format(spec, articles, base_url, hub=None, changed_at=0.0) -> dict[str, bytes]:
    """Every format's bytes, plus `_last_modified` (the feed's build date, an HTTP date)."""
    out = {fmt: RENDERERS[fmt](spec, articles, base_url, hub, changed_at) for fmt in RENDERERS}
    out["_last_modified"] = format_datetime(_build_date(articles, changed_at).astimezone(timezone.utc),
                                            usegmt=True).encode()
    return out


def unrenderable(spec, articles, base_url) -> list[dict]:
    """The articles that cannot be rendered alone (so would stop their whole feed)."""
    bad = []
    for article in articles:
        try:
            render_every_format(spec, [article], base_url)
        except Exception:  # whatever stored data does to feedgen, one item never stops a feed
            bad.append(article)
    return bad
