"""`rss`: one article version as an RSS 2.0 document holding exactly one item.

Standard: RSS 2.0 (https://www.rssboard.org/rss-specification), with the
content (content:encoded), Dublin Core (dc:creator) and Media RSS
(media:content) modules. The item is built by the feeds' own entry builder
(feeds/entries.py, which the feed renderer uses too), so a pushed item is
byte-for-byte the item our RSS feeds carry: same guid (the article's tag URI,
isPermaLink="false"), title, link, description, content:encoded, dc:creator,
categories, pubDate, enclosure and media:content. The channel is titled after
the publisher and describes the push (article id and version); it has no
`atom:link rel="self"`, since a push has no feed URL.

Embargo: an article with an `embargoed` instant carries it in its item as
`<dcterms:available>` (Dublin Core terms, http://purl.org/dc/terms/: "date
that the resource became or will become available"), as in the Atom format.

Withdrawal: the same document with one item whose guid is the original's
guid, title "Withdrawn: <last headline>", description the reason (or a
stock sentence), one `<category>withdrawn</category>`, the original link
and pubDate, and no content, authors or images. RSS has no deletion
element, so the category is the machine-readable signal.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from syndication import __version__
from syndication.feeds import entries
from syndication.partners.formats import _common as c
from syndication.partners.formats.base import Format, Push

TTL = 5  # minutes, as our feeds say by default
DCTERMS_NS = "http://purl.org/dc/terms/"
WITHDRAWN = "withdrawn"


def withdrawal_item(push: Push, base_url: str) -> dict[str, Any]:
    """The article as the renderer sees it when withdrawn (see the module docstring)."""
    a = push.article or {}
    return {
        "id": push.article_id,
        "url": a.get("url") or c.article_uri(push.article_id, base_url),
        "source": a.get("source"),
        "language": a.get("language") or "en",
        "headline": f"Withdrawn: {a.get('headline') or push.article_id}",
        "summary": c.reason(push) or "This article has been withdrawn.",
        "categories": [WITHDRAWN],
        "published_at": c.published(a),
        "updated_at": c.updated(a),
    }


def _finish(xml: bytes, has_url: bool, embargoed: str | None = None) -> bytes:
    root = etree.fromstring(xml)
    channel = root.find("channel")
    if embargoed:
        etree.SubElement(channel.find("item"), f"{{{DCTERMS_NS}}}available",
                         nsmap={"dcterms": DCTERMS_NS}).text = embargoed
    if not has_url:  # no article data at all: no link, no date to give
        item = channel.find("item")
        for tag in ("link", "pubDate"):
            for el in item.findall(tag):  # (entries.add leaves out a link RSS cannot carry)
                item.remove(el)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _document(article: dict[str, Any], base_url: str, description: str) -> bytes:
    """An RSS 2.0 document whose channel describes the push and holds the one item."""
    fg = entries.generator()
    fg.title(c.publisher(article))
    fg.description(description)
    fg.language(article["language"])
    fg.ttl(TTL)
    fg.generator("syndication", __version__)
    fg.link(href=f"{base_url}/feeds", rel="alternate", type="text/html")  # RSS requires a channel link
    fg.lastBuildDate(entries.updated(article))
    entries.add(fg, article, base_url, "rss")
    return fg.rss_str(pretty=False)


class RssFormat(Format):
    name = "rss"
    media_type = "application/rss+xml"

    def render(self, push: Push, *, base_url: str) -> bytes:
        withdrawn = c.is_withdrawal(push)
        article = withdrawal_item(push, base_url) if withdrawn else c.require_article(push)
        what = "Withdrawal of" if withdrawn else "Article"
        xml = _document(article, base_url, description=f"{what} {push.article_id}, version {push.version}")
        return _finish(xml, has_url=bool(push.article and push.article.get("url")),
                       embargoed=None if withdrawn else c.embargoed(article))
