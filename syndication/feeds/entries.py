"""One article as a feed entry: what an RSS item or Atom entry says, shared by feeds and pushes.

The feeds (render.py) put many entries in a channel with its self link and hub; the `rss`
push format (partners/formats/rss.py) puts one in a document of its own. Both build it
here, so a pushed item is byte-for-byte the item our RSS feeds carry, while a push format
never imports the feed renderer.

    fg = entries.generator()                     # feedgen with the dc and synd extensions
    entries.add(fg, article, base_url, "rss")    # guid, title, link, content, authors, ...
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator

from syndication import subjects
from syndication.feeds.ext import SyndEntryExtension, SyndFeedExtension
from syndication.feeds.links import as_uri, rss_url
from syndication.identity import article_uri
from syndication.text import as_html, plain_text


def dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def updated(article: dict[str, Any]) -> datetime:
    return dt(article.get("updated_at")) or dt(article["published_at"])


def description(article: dict[str, Any]) -> str:
    return article.get("summary") or plain_text(article.get("body_html", ""), limit=500)


def publisher(article: dict[str, Any]) -> str:
    """Who published it: `source`, else the host of the article URL. The Atom author of an
    article without authors, in feeds and pushes alike (one entry, one author: RFC 4287 4.2.6)."""
    return article.get("source") or urlsplit(article.get("url") or "").hostname or "syndication"


def topic_category(topic: dict[str, str], fmt: str) -> dict[str, str]:
    """An IPTC Media Topic as a category in the IPTC's scheme: Atom `term` + `scheme` (together the
    topic's URI) and the name as `label`; RSS `<category domain="scheme">code</category>`, with no
    label, since feedgen would put the label in place of the code (RSS's value is the identifier)."""
    category = {"term": subjects.code(topic["qcode"]), "scheme": subjects.SCHEME_URI}
    if fmt == "atom" and topic.get("name"):
        category["label"] = topic["name"]
    return category


def generator() -> FeedGenerator:
    """A feedgen document with the extensions our entries use (Dublin Core, ours: links, media, hub)."""
    fg = FeedGenerator()
    fg.load_extension("dc", atom=True, rss=True)
    fg.register_extension("synd", SyndFeedExtension, SyndEntryExtension)
    return fg


def add(fg: FeedGenerator, article: dict[str, Any], base_url: str, fmt: str) -> None:
    """Append `article` to `fg` as an entry of format `fmt` ("rss" or "atom")."""
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
    fe.description(as_html(description(article)))  # RSS <description> is HTML to readers
    fe.summary(description(article))  # Atom <summary> (feedgen drops it when content is set)
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
    for topic in article.get("subjects") or []:
        fe.category(**topic_category(topic, fmt))
    fe.published(dt(article["published_at"]))
    fe.updated(updated(article))
    if fmt == "rss" and images:
        img = images[0]
        fe.enclosure(img["url"], str(img.get("length") or 0), img.get("mime_type") or "image/jpeg")
