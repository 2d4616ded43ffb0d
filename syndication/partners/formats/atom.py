"""`atom`: one article version as an Atom Entry Document; a withdrawal as a tombstone.

Standards: RFC 4287 (The Atom Syndication Format, section 4.1.2 atom:entry
as a document root), RFC 5023 section 7.1 (the `type=entry` media type
parameter) and RFC 6721 (The Atom "deleted-entry" Element).

Entry: id, title, updated, published, one author per article author (the
publisher when there are none: an entry document MUST have an author),
category terms, each IPTC Media Topic as a category in the IPTC's scheme
(`term` the code, `scheme` http://cv.iptc.org/newscodes/mediatopic/, `label`
its name, as in the Atom feeds), an alternate link, one enclosure link per image (type,
length when known, caption as title), summary (text) and content
(type="html"). The id is the article's tag URI (syndication/identity.py),
as in our Atom feeds, so the pushed entry and the feed's entry are one entry
(RFC 4287 4.2.6), and two articles sharing a URL stay two entries.

Embargo: an article with an `embargoed` instant carries it as a Dublin Core
`<dcterms:available>` extension element (http://purl.org/dc/terms/, "date that
the resource became or will become available"; RFC 4287 section 6.4 allows
foreign elements in an entry); absent when there is no embargo.

Withdrawal: an RFC 6721 Deleted Entry Document (section 4), root
`<at:deleted-entry ref="<entry id>" when="...">` in the namespace
http://purl.org/atompub/tombstones/1.0, with the reason as `<at:comment>`.
`when` is the withdrawal event's time (else the last version's updated time). RFC 6721 registers
`application/atomdeleted+xml` for that document; a Format has one static
media type, so it still goes out as this format's `media_type`.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from syndication import subjects
from syndication.feeds.links import as_uri
from syndication.partners.formats import _common as c
from syndication.partners.formats.base import Format, Push

ATOM_NS = "http://www.w3.org/2005/Atom"
TOMBSTONE_NS = "http://purl.org/atompub/tombstones/1.0"
DCTERMS_NS = "http://purl.org/dc/terms/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _add(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def entry(a: dict[str, Any], base_url: str) -> etree._Element:
    embargoed = c.embargoed(a)
    nsmap = {None: ATOM_NS, **({"dcterms": DCTERMS_NS} if embargoed else {})}
    root = etree.Element(f"{{{ATOM_NS}}}entry", nsmap=nsmap)
    root.set(XML_LANG, a["language"])
    _add(root, "id", c.article_uri(a["id"], base_url))
    _add(root, "title", a["headline"], type="text")
    _add(root, "updated", c.updated(a))
    _add(root, "published", c.published(a))
    if embargoed:
        etree.SubElement(root, f"{{{DCTERMS_NS}}}available").text = embargoed
    for name in a.get("authors") or [c.publisher(a)]:
        _add(_add(root, "author"), "name", name)
    for term in a.get("categories") or []:
        _add(root, "category", term=term)
    for topic in a.get("subjects") or []:
        label = {"label": topic["name"]} if topic.get("name") else {}
        _add(root, "category", term=subjects.code(topic["qcode"]), scheme=subjects.SCHEME_URI, **label)
    _add(root, "link", rel="alternate", type="text/html", href=as_uri(a["url"]))
    for img in a.get("images") or []:
        attrs = {"rel": "enclosure", "type": img.get("mime_type") or "image/jpeg", "href": as_uri(img["url"])}
        if img.get("length"):
            attrs["length"] = str(img["length"])
        if img.get("caption"):
            attrs["title"] = img["caption"]
        _add(root, "link", **attrs)
    if c.description(a):
        _add(root, "summary", c.description(a), type="text")
    if a.get("body_html"):
        _add(root, "content", a["body_html"], type="html")
    return root


def tombstone(push: Push, base_url: str) -> etree._Element:
    a = push.article
    ref = c.article_uri(push.article_id, base_url)
    when = c.withdrawn_at(push, a)
    root = etree.Element(f"{{{TOMBSTONE_NS}}}deleted-entry", {"ref": ref, "when": when},
                         nsmap={"at": TOMBSTONE_NS})
    if a:
        root.set(XML_LANG, a["language"])
    if c.reason(push):
        comment = etree.SubElement(root, f"{{{TOMBSTONE_NS}}}comment", type="text")
        comment.text = c.reason(push)
    return root


class AtomFormat(Format):
    name = "atom"
    media_type = "application/atom+xml;type=entry"

    def render(self, push: Push, *, base_url: str) -> bytes:
        root = tombstone(push, base_url) if c.is_withdrawal(push) else entry(c.require_article(push), base_url)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
