"""Rendering a feed's items into RSS 2.0, Atom 1.0 (feedgen) and JSON Feed 1.1.

Pure functions of (feed spec, articles, base URL, hub, changed_at): no Redis,
no clock. The same state always renders the same bytes, so ETags are stable.
Articles arrive already cleaned (text.clean_article): sanitized HTML, no
XML-illegal characters, so rendering never fails on newsroom input.

Django's feedgenerator is the model: one small function per format, each
with its content type (`CONTENT_TYPES`). One article as an RSS item or Atom
entry is entries.py's, which the `rss` push format shares.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from feedgen.feed import FeedGenerator

from syndication import __version__, subjects
from syndication.feeds import entries
from syndication.feeds.entries import description, dt, updated
from syndication.feeds.links import as_uri
from syndication.feeds.spec import FeedSpec
from syndication.identity import article_uri, feed_url
from syndication.text import as_html

CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _instant(ts: float) -> datetime:
    try:
        return datetime.fromtimestamp(ts, tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        return EPOCH  # stored before dates were bounded: never let it stop a render


def _build_date(articles: list[dict], changed_at: float) -> datetime:
    newest = max((updated(a) for a in articles), default=EPOCH)
    changed = _instant(changed_at) if changed_at else EPOCH
    return max(newest, changed)


def _tags(article: dict[str, Any]) -> list[str]:
    """JSON Feed tags: the categories, then the Media Topics' names (each once, ignoring case)."""
    tags, seen = [], set()
    for tag in [*(article.get("categories") or []), *(t.get("name") for t in article.get("subjects") or [])]:
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    return tags


def _generator(spec: FeedSpec, articles: list[dict], base_url: str, hub: str | None,
               changed_at: float, fmt: str) -> FeedGenerator:
    fg = entries.generator()
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
        entries.add(fg, article, base_url, fmt)
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
            "summary": description(a),
            "content_html": a.get("body_html") or f"<p>{as_html(description(a))}</p>",
            "date_published": dt(a["published_at"]).isoformat(),
            "date_modified": updated(a).isoformat(),
            "language": a.get("language") or spec.language,
        }
        if a.get("authors"):
            item["authors"] = [{"name": n} for n in a["authors"]]
        if _tags(a):
            item["tags"] = _tags(a)
        if a.get("subjects"):  # a JSON Feed extension: the codes behind the tags, for machines
            item["_media_topics"] = {"about": subjects.SCHEME_URI, "topics": [
                {"qcode": t["qcode"], "uri": subjects.uri(t["qcode"]), **({"name": t["name"]} if t.get("name") else {})}
                for t in a["subjects"]]}
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
