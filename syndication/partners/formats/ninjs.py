"""`ninjs`: one article version as an IPTC ninjs 2.2 news item (News in JSON).

Standard: IPTC ninjs 2.2, https://iptc.org/standards/ninjs/ (JSON Schema
http://www.iptc.org/std/ninjs/ninjs-schema_2.2.json; a copy is in
tests/schemas/, which every rendering is validated against). ninjs defines
no media type of its own, so it goes out as `application/json`.

Mapping (ninjs 2.2 property <- article field):
- uri: the article's tag URI (syndication/identity.py), the same for every version (ninjs
  says the uri identifies the item, not a link); the web URL is in altids
  (role "url"); version: the push version as a string (the schema's type)
- firstcreated <- published_at; versioncreated <- updated_at (else published_at)
- embargoed <- embargoed ("the date and time before which all versions of the news object
  are embargoed"; ninjs 3.x calls it embargoedUntil), present whenever the article has one
- headlines (role main), descriptions (role summary, text/plain), bodies
  (role main, text/html), subjects (name per category, then uri and name per IPTC
  Media Topic: the schema has no qcode property, and the uri is the topic's), by (authors, comma
  separated), located <- dateline, infosources <- source, language
- associations: one "picture" item per image (name image1, image2, ...; uri
  = image URL) with its caption as a description (role caption) and one
  rendition "original" (href, contenttype, width, height, sizeinbytes)
- ednote <- the note of `article.correction` (ninjs has no correction flag: the note, meant for
  the receiving desk, says it; NewsML-G2 adds the sig:correction signal)

A withdrawal is the same uri and the new version with pubstatus "canceled",
representationtype "partial" and the reason as ednote; it keeps the
headline, language and dates of the last published version (versioncreated
is that version's time: the push carries no withdrawal time) and drops
bodies, descriptions and associations.

`build` is shared with ninjs3.py, which renames the properties for 3.x.
"""

from __future__ import annotations

import json
from typing import Any

from syndication import subjects
from syndication.partners.formats import _common as c
from syndication.partners.formats.base import Format, Push

STANDARD = {"name": "ninjs", "version": "2.2",
            "schema": "http://www.iptc.org/std/ninjs/ninjs-schema_2.2.json#"}


def _picture(n: int, img: dict[str, Any]) -> dict[str, Any]:
    rendition: dict[str, Any] = {"name": "original", "href": img["url"],
                                 "contenttype": img.get("mime_type") or "image/jpeg"}
    for ours, theirs in (("width", "width"), ("height", "height"), ("length", "sizeinbytes")):
        if img.get(ours) is not None:
            rendition[theirs] = img[ours]
    pic: dict[str, Any] = {"name": f"image{n}", "uri": img["url"], "type": "picture"}
    if img.get("caption"):
        pic["descriptions"] = [{"role": "caption", "contenttype": "text/plain", "value": img["caption"]}]
    pic["renditions"] = [rendition]
    return pic


def build(push: Push, base_url: str, standard: dict[str, str] = STANDARD) -> dict[str, Any]:
    """The ninjs 2.2 item (lower-case property names) for this push."""
    withdrawn = c.is_withdrawal(push)
    a = push.article if withdrawn else c.require_article(push)
    doc: dict[str, Any] = {"uri": c.article_uri(push.article_id, base_url), "standard": dict(standard),
                           "type": "text", "version": str(push.version)}
    doc["pubstatus"] = "canceled" if withdrawn else "usable"
    doc["representationtype"] = "partial" if withdrawn else "full"
    if a is None:  # withdrawn before anything was published: identity and reason only
        if c.reason(push):
            doc["ednote"] = c.reason(push)
        return doc
    doc["firstcreated"] = c.published(a)
    doc["versioncreated"] = c.withdrawn_at(push, a) if withdrawn else c.updated(a)
    doc["language"] = a["language"]
    doc["headlines"] = [{"role": "main", "value": a["headline"]}]
    if withdrawn:
        if c.reason(push):
            doc["ednote"] = c.reason(push)
    else:
        if c.correction(a):
            doc["ednote"] = c.correction(a)
        if c.embargoed(a):
            doc["embargoed"] = c.embargoed(a)
        if c.description(a):
            doc["descriptions"] = [{"role": "summary", "contenttype": "text/plain",
                                    "value": c.description(a)}]
        if a.get("body_html"):
            doc["bodies"] = [{"role": "main", "contenttype": "text/html", "value": a["body_html"]}]
        if a.get("authors"):
            doc["by"] = ", ".join(a["authors"])
        if a.get("dateline"):
            doc["located"] = a["dateline"]
        if a.get("categories") or a.get("subjects"):
            doc["subjects"] = [{"name": cat} for cat in a.get("categories") or []] + [
                {"uri": subjects.uri(t["qcode"]), **({"name": t["name"]} if t.get("name") else {})}
                for t in a.get("subjects") or []]
        if a.get("source"):
            doc["infosources"] = [{"name": a["source"]}]
        if a.get("images"):
            doc["associations"] = [_picture(n, img) for n, img in enumerate(a["images"], 1)]
    doc["altids"] = [{"role": "url", "value": a["url"]}]
    return doc


def dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


class NinjsFormat(Format):
    name = "ninjs"
    media_type = "application/json"

    def render(self, push: Push, *, base_url: str) -> bytes:
        return dump(build(push, base_url))
