"""`newsml-g2`: one article version as an IPTC NewsML-G2 2.35 `newsItem` (text, body in NITF).

Standard: IPTC NewsML-G2 2.35, power conformance (https://iptc.org/standards/newsml-g2/; the XSD
is in tests/schemas/newsml-g2-2.35/, which every rendering is validated against). Media type
`application/vnd.iptc.g2.newsitem+xml`, registered with IANA by the IPTC. `newsml-g2-message`
is the same item wrapped in a `newsMessage` (`application/vnd.iptc.g2.newsmessage+xml`), for
partners whose systems take G2 messages: header with `sent` (the time of the event behind the
delivery: a render has no clock, and a retry is the same message), `sender` (the publisher)
and `transmitId` (the delivery id, the same on every retry, like `webhook-id`).

Mapping (NewsML-G2 <- article):
- newsItem guid: the article's tag URI (syndication/identity.py), as in every format; version:
  the push version; xml:lang <- language. One catalogRef, the IPTC's catalog 35, resolves the
  scheme aliases used (ninat, stat, sig, irel, drol, cpnat, medtop, ...).
- itemMeta: itemClass ninat:text; provider (uri: the service, name: the publisher);
  versionCreated <- updated_at (else published_at); firstCreated <- published_at; embargoed <-
  embargoed; pubStatus stat:usable; signal sig:update for an `article.updated` event, plus
  sig:correction when the version is a correction (`article.correction`), its note as edNote;
  links (irel:seeAlso) to the web page (text/html) and to each image (its type, the caption as
  title). Images are links, not remoteContent: a contentSet holds renditions of the text itself.
- contentMeta: infoSource <- source; one creator per author; language; subjects <-
  `article.subjects` ([{"qcode": "medtop:...", "name": ...}], type cpnat:abstract, the name from the
  IPTC vocabulary when the event gave none, and every broader topic as `broader`); one keyword
  per free-text category; slugline <- the last segment of the URL path (the newsroom's slug);
  headline; dateline; by (the authors, comma separated); description (role drol:summary) <- the
  summary, else the start of the body (the feeds' rule). No genre: events carry none.
- contentSet: one inlineXML (application/nitf+xml) holding NITF 3.6: the headline as hl1 and the
  body mapped to NITF blocks (nitf.py).

Embargo: an article with an `embargoed` instant carries it in itemMeta `embargoed` with pubStatus
stat:usable, as the IPTC's own example item does (the G2 way: the element says until when; NewsML 1
had an "embargoed" status instead). Not stat:withheld: that status says "not usable until a later
version changes it", and a `send` partner is sent no later version at the release
(pipeline/embargo.py), so its copy would stay withheld for ever.

Withdrawal: the same guid and the new version with pubStatus stat:canceled, the reason as edNote
and, from the version this partner was entitled to see (delivery/push.py `released_to`), the
headline, language and dates; no body, images, links or summary. A story withdrawn before anything
was released to this partner is the guid, canceled, and the reason only.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

from lxml import etree

from syndication import subjects as media_topics
from syndication.partners.formats import _common as c
from syndication.partners.formats.base import Format, Push
from syndication.partners.formats.nitf import NITF_NS, body_content

NAR_NS = "http://iptc.org/std/nar/2006-10-01/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
STANDARD_VERSION = "2.35"
CATALOG = "http://www.iptc.org/std/catalog/catalog.IPTC-G2-Standards_35.xml"
MAX_OFFSET = timedelta(hours=14)  # XML Schema 1.0 (xs:dateTime): timezones -14:00..+14:00


def _add(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NAR_NS}}}{name}", {k: v for k, v in attrs.items() if v})
    if text is not None:
        el.text = text
    return el


def _named(parent: etree._Element, tag: str, name: str, **attrs: str) -> etree._Element:
    el = _add(parent, tag, **attrs)
    _add(el, "name", name)
    return el


def slug(url: str | None) -> str:
    """The last segment of the URL's path, decoded: how newsrooms name a story in its URL.

    Plain text like every other field (percent-decoding may yield markup or XML-illegal characters)."""
    path = urlsplit(url or "").path.rstrip("/")
    return c.plain_text(unquote(path.rsplit("/", 1)[-1])) if path else ""


def g2_date(value: str) -> str:
    """An ISO date as xs:dateTime takes it: RFC 3339 allows offsets up to 23:59, XML Schema only up
    to 14:00, so a time with a wider offset is given in UTC (the same instant)."""
    when = datetime.fromisoformat(value)
    offset = when.utcoffset()
    return when.astimezone(timezone.utc).isoformat() if offset and abs(offset) > MAX_OFFSET else value


def subjects(article: dict[str, Any]) -> list[tuple[str, str]]:
    """(qcode, name) of each well-formed `article.subjects` entry; anything else is skipped."""
    out = []
    for s in article.get("subjects") or []:
        qcode = s.get("qcode") if isinstance(s, dict) else None
        if isinstance(qcode, str) and ":" in qcode.strip(":") and not any(ch.isspace() for ch in qcode):
            name = s.get("name")
            out.append((qcode, c.plain_text(name) if isinstance(name, str) else ""))
    return out


def _item_meta(root: etree._Element, push: Push, a: dict[str, Any] | None, withdrawn: bool,
               base_url: str) -> None:
    meta = _add(root, "itemMeta")
    _add(meta, "itemClass", qcode="ninat:text")
    _named(meta, "provider", c.publisher(a) if a else urlsplit(base_url).hostname or base_url, uri=base_url)
    _add(meta, "versionCreated", g2_date(c.withdrawn_at(push, a) if withdrawn else c.updated(a)))
    if a:
        _add(meta, "firstCreated", g2_date(c.published(a)))
    if a and not withdrawn and c.embargoed(a):
        _add(meta, "embargoed", g2_date(c.embargoed(a)))
    _add(meta, "pubStatus", qcode="stat:canceled" if withdrawn else "stat:usable")
    if withdrawn and c.reason(push):
        _add(meta, "edNote", c.reason(push))
    note = None if withdrawn else c.correction(a)
    if note:
        _add(meta, "edNote", note)
    if not withdrawn:
        if push.event_type == "article.updated":
            _add(meta, "signal", qcode="sig:update")
        if note is not None:
            _add(meta, "signal", qcode="sig:correction")
        _add(meta, "link", rel="irel:seeAlso", href=a["url"], contenttype="text/html")
        for img in a.get("images") or []:
            link = _add(meta, "link", rel="irel:seeAlso", href=img["url"],
                        contenttype=img.get("mime_type") or "image/jpeg")
            if img.get("caption"):
                _add(link, "title", img["caption"])


def _content_meta(root: etree._Element, a: dict[str, Any], withdrawn: bool) -> None:
    meta = _add(root, "contentMeta")
    if not withdrawn:
        if a.get("source"):
            _named(meta, "infoSource", a["source"])
        for author in a.get("authors") or []:
            _named(meta, "creator", author)
    _add(meta, "language", tag=a["language"])
    if withdrawn:
        _add(meta, "headline", a["headline"])
        return
    for qcode, name in subjects(a):
        subject = _add(meta, "subject", type="cpnat:abstract", qcode=qcode)
        if name or media_topics.name_of(qcode):
            _add(subject, "name", name or media_topics.name_of(qcode))
        for wider in media_topics.lineage(qcode)[1:]:  # so a receiver can select by any broader topic
            _add(subject, "broader", qcode=wider)
    for term in a.get("categories") or []:
        _add(meta, "keyword", term)
    if slug(a.get("url")):
        _add(meta, "slugline", slug(a["url"]))
    _add(meta, "headline", a["headline"])
    if a.get("dateline"):
        _add(meta, "dateline", a["dateline"])
    if a.get("authors"):
        _add(meta, "by", ", ".join(a["authors"]))
    if c.description(a):
        _add(meta, "description", c.description(a), role="drol:summary")


def _content_set(root: etree._Element, a: dict[str, Any]) -> None:
    inline = _add(_add(root, "contentSet"), "inlineXML", contenttype="application/nitf+xml")
    nitf = etree.SubElement(inline, f"{{{NITF_NS}}}nitf", nsmap={None: NITF_NS})
    body = etree.SubElement(nitf, f"{{{NITF_NS}}}body")
    hedline = etree.SubElement(etree.SubElement(body, f"{{{NITF_NS}}}body.head"), f"{{{NITF_NS}}}hedline")
    etree.SubElement(hedline, f"{{{NITF_NS}}}hl1").text = a["headline"]
    body_content(a.get("body_html") or "", body)


def news_item(push: Push, base_url: str) -> etree._Element:
    withdrawn = c.is_withdrawal(push)
    a = push.article if withdrawn else c.require_article(push)
    root = etree.Element(f"{{{NAR_NS}}}newsItem", {
        "guid": c.article_uri(push.article_id, base_url), "version": str(push.version),
        "standard": "NewsML-G2", "standardversion": STANDARD_VERSION, "conformance": "power",
    }, nsmap={None: NAR_NS})
    if a:
        root.set(XML_LANG, a["language"])
    _add(root, "catalogRef", href=CATALOG)
    _item_meta(root, push, a, withdrawn, base_url)
    if a:
        _content_meta(root, a, withdrawn)
    if not withdrawn:
        _content_set(root, a)
    return root


def news_message(push: Push, base_url: str) -> etree._Element:
    item = news_item(push, base_url)
    root = etree.Element(f"{{{NAR_NS}}}newsMessage", nsmap={None: NAR_NS})
    header = _add(root, "header")
    a = push.article
    _add(header, "sent", g2_date(c.rfc3339(push.occurred_at) or (c.updated(a) if a else c.NO_DATE)))
    _add(header, "sender", c.publisher(a) if a else urlsplit(base_url).hostname or base_url)
    _add(header, "transmitId", push.delivery_id)
    _add(root, "itemSet").append(item)
    return root


def _xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class NewsmlG2Format(Format):
    name = "newsml-g2"
    media_type = "application/vnd.iptc.g2.newsitem+xml"

    def render(self, push: Push, *, base_url: str) -> bytes:
        return _xml(news_item(push, base_url))


class NewsmlG2MessageFormat(Format):
    name = "newsml-g2-message"
    media_type = "application/vnd.iptc.g2.newsmessage+xml"

    def render(self, push: Push, *, base_url: str) -> bytes:
        return _xml(news_message(push, base_url))
