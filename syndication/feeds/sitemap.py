"""Google News sitemaps: which articles one lists, and the XML of a sitemap and of a sitemap index.

What Google News reads (since March 2025 it no longer reads the RSS feeds publishers
submit): https://developers.google.com/search/docs/crawling-indexing/sitemaps/news-sitemap
and the sitemap protocol (https://www.sitemaps.org/protocol.html). Its rules, as kept here:

- only articles first published in the last two days (`WINDOW`): `<news:publication_date>`
  is the article's `published_at`, the original publication, never an update's time;
- at most 1,000 `<url>` in one file (`MAX_NEWS_URLS`); beyond that the sitemap is a
  sitemap index of pages. The plain protocol's limits hold too: at most 50,000 URLs in
  all (`MAX_URLS`, the oldest left out beyond) and 50 MB per file (`MAX_BYTES`, a page
  that would be larger is split);
- `<news:publication>`: the name and language configured on the feed (FeedSpec.news_sitemap);
- only what was released to everyone: the released data (articles.py), never a version an
  embargo holds, never a withdrawn article (feeds/sitemap_store.py collects them).

Pure functions of their arguments: no Redis, no clock.

    pages = paginate(entries)                      # [[NewsEntry, ...], ...]
    urlset(pages[0]) -> bytes;  index([(url, lastmod), ...]) -> bytes
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from lxml import etree

from syndication.feeds.links import as_uri
from syndication.feeds.spec import FeedSpec

WINDOW = 2 * 86400  # seconds: "articles ... published in the last two days"
MAX_NEWS_URLS = 1000  # per file (Google News)
MAX_URLS = 50_000  # per sitemap, index included (sitemaps.org)
MAX_BYTES = 50 * 1024 * 1024  # per file, uncompressed (sitemaps.org)
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
CONTENT_TYPE = "application/xml; charset=utf-8"


@dataclass(frozen=True)
class NewsEntry:
    article_id: str
    loc: str
    title: str
    published: str  # RFC 3339 (W3C Datetime), the original publication
    publication: str
    language: str
    published_ts: float  # for ordering: newest first


def published_ts(article: dict[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(article["published_at"].upper()).timestamp()
    except (KeyError, AttributeError, TypeError, ValueError):
        return None  # not from a validated event: left out rather than guessed


def entry(article: dict[str, Any], spec: FeedSpec) -> NewsEntry | None:
    """The article as one `<url>` of `spec`'s sitemap; None if it cannot be one."""
    ts = published_ts(article)
    if ts is None or not article.get("url") or not article.get("headline"):
        return None
    return NewsEntry(
        article_id=article["id"], loc=as_uri(article["url"]), title=article["headline"],
        published=datetime.fromisoformat(article["published_at"].upper()).isoformat(),
        publication=spec.news_sitemap.publication, language=spec.news_language, published_ts=ts)


def in_window(ts: float, now: float) -> bool:
    return now - WINDOW <= ts <= now


def select(candidates: list[tuple[dict[str, Any], FeedSpec]], now: float) -> list[NewsEntry]:
    """(article, the first sitemap feed it matches) pairs -> the entries to list, newest first,
    each article once, at most MAX_URLS."""
    entries, seen = [], set()
    for article, spec in candidates:
        item = entry(article, spec)
        if item and item.article_id not in seen and in_window(item.published_ts, now):
            seen.add(item.article_id)
            entries.append(item)
    entries.sort(key=lambda e: (-e.published_ts, e.article_id))
    return entries[:MAX_URLS]


def _news(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NEWS_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def urlset(entries: list[NewsEntry]) -> bytes:
    root = etree.Element(f"{{{SITEMAP_NS}}}urlset", nsmap={None: SITEMAP_NS, "news": NEWS_NS})
    for e in entries:
        url = etree.SubElement(root, f"{{{SITEMAP_NS}}}url")
        etree.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = e.loc
        news = _news(url, "news")
        publication = _news(news, "publication")
        _news(publication, "name", e.publication)
        _news(publication, "language", e.language)
        _news(news, "publication_date", e.published)
        _news(news, "title", e.title)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def index(sitemaps: list[tuple[str, str]]) -> bytes:
    """A sitemap index: (location, lastmod as RFC 3339) per sitemap file."""
    root = etree.Element(f"{{{SITEMAP_NS}}}sitemapindex", nsmap={None: SITEMAP_NS})
    for loc, lastmod in sitemaps:
        sitemap = etree.SubElement(root, f"{{{SITEMAP_NS}}}sitemap")
        etree.SubElement(sitemap, f"{{{SITEMAP_NS}}}loc").text = loc
        etree.SubElement(sitemap, f"{{{SITEMAP_NS}}}lastmod").text = lastmod
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def paginate(entries: list[NewsEntry], per_file: int = MAX_NEWS_URLS,
             max_bytes: int = MAX_BYTES) -> list[list[NewsEntry]]:
    """Entries in files of at most `per_file`, each rendering to at most `max_bytes` (halved until it does)."""
    pages: list[list[NewsEntry]] = []
    todo = [entries[i:i + per_file] for i in range(0, len(entries), per_file)]
    while todo:
        page = todo.pop(0)
        if len(page) > 1 and len(urlset(page)) > max_bytes:
            half = len(page) // 2
            todo[:0] = [page[:half], page[half:]]
        else:
            pages.append(page)
    return pages


def lastmod(http_date_ts: float) -> str:
    """A unix time as the W3C Datetime a sitemap index's `<lastmod>` takes."""
    return datetime.fromtimestamp(http_date_ts, tz=timezone.utc).isoformat(timespec="seconds")
