"""Partner push formats: valid by their standard, faithful to the article, byte-stable.

ninjs 2.2 / 3.1 are checked against the IPTC JSON Schemas in tests/schemas
(Draft 2020-12, with `date-time` and `uri` format checks); Atom and RSS are
parsed strictly by lxml and by feedparser (bozo must be 0).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import feedparser
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from lxml import etree

from syndication.events import parse_event
from syndication.partners.formats import PUSH_FORMATS, Push
from syndication.text import clean_article

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
BASE = "https://syndication.example"
ATOM = "http://www.w3.org/2005/Atom"
AT = "http://purl.org/atompub/tombstones/1.0"
NS = {"a": ATOM, "at": AT, "dc": "http://purl.org/dc/elements/1.1/",
      "content": "http://purl.org/rss/1.0/modules/content/", "media": "http://search.yahoo.com/mrss/"}
URL = "https://news.example/kk/ekonomika/astana-lrt"
URN = "tag:syndication.example,2026-12-07:article:kk-2026-11-20-lrt"  # the identity in every output (not the URL)
NEVER = "tag:syndication.example,2026-12-07:article:never-1"
REASON = "Эмбарго бұзылды / Нарушено эмбарго\x0b."  # \x0b: XML-illegal, must not break XML formats

checker = FormatChecker()  # jsonschema ships no date-time/uri checkers without extra packages
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", re.I)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")


@checker.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or (bool(_RFC3339.match(value)) and bool(datetime.fromisoformat(value)))


@checker.checks("uri")
def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


def validator(version: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"ninjs-schema_{version}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=checker)


VALIDATORS = {"ninjs": validator("2.2"), "ninjs3": validator("3.1")}


def stored(event_type: str = "article.published", **changes) -> dict:
    """Article data as the service stores it: validated, dumped by pydantic, cleaned."""
    article = {
        "id": "kk-2026-11-20-lrt", "version": 1, "url": URL, "language": "kk",
        "headline": "Астанада жеңіл рельсті көлік іске қосылды",
        "summary": "Первая линия LRT в Астане перевезла пассажиров в день открытия.",
        "body_html": "<p>Елорда әуежайы мен вокзал арасында пойыздар жүреді.</p>"
                     "<p>Поезда ходят каждые семь минут.</p>",
        "authors": ["Айгерім Нұрланқызы", "Ирина Ким", "Adlet Seilkhanov"],
        "categories": ["Экономика", "Қазақстан", "Transport"],
        "section": "Economy", "dateline": "АСТАНА", "source": "Newsroom Example",
        "published_at": "2026-11-20T09:00:00+05:00", "updated_at": "2026-11-20T09:00:00+05:00",
        "images": [
            {"url": "https://news.example/media/lrt.jpg", "caption": "Пойыз әуежай бекетінде",
             "mime_type": "image/jpeg", "width": 1600, "height": 900, "length": 245123},
            {"url": "https://news.example/media/map.png", "mime_type": "image/png"},
        ],
        **changes,
    }
    event = parse_event({"event_id": "e1", "type": event_type,
                         "occurred_at": "2026-11-20T09:00:05+05:00", "article": article})
    return clean_article(json.loads(event.model_dump_json())["article"])


V1 = stored()
V2 = stored(version=2, headline="Астанада LRT іске қосылды: 40 000 жолаушы",
            updated_at="2026-11-20T07:30:00Z")
CORRECTION_NOTE = "An earlier version gave the wrong <b>line</b> length & opening date."
CORRECTED = stored("article.updated", version=2, updated_at="2026-11-20T07:30:00Z",
                   correction={"note": CORRECTION_NOTE})
PUSHES = {
    "published": Push("d1", "e1", "article.published", V1["id"], 1, V1, False),
    "updated": Push("d2", "e2", "article.updated", V2["id"], 2, V2, False),
    "corrected": Push("d2", "e2", "article.updated", CORRECTED["id"], 2, CORRECTED, False),
    "withdrawn": Push("d3", "e3", "article.withdrawn", V2["id"], 3, V2, True, REASON),
    "withdrawn-unpublished": Push("d4", "e4", "article.withdrawn", "never-1", 2, None, True, "dup"),
}
ALL = [(fmt, case) for fmt in PUSH_FORMATS for case in PUSHES]


def render(fmt: str, case: str) -> bytes:
    return PUSH_FORMATS[fmt].render(PUSHES[case], base_url=BASE)


def test_registry():
    assert {n: f.media_type for n, f in PUSH_FORMATS.items()} == {
        "json": "application/json", "ninjs": "application/json", "ninjs3": "application/json",
        "atom": "application/atom+xml;type=entry", "rss": "application/rss+xml",
        "newsml-g2": "application/vnd.iptc.g2.newsitem+xml",
        "newsml-g2-message": "application/vnd.iptc.g2.newsmessage+xml"}


@pytest.mark.parametrize("fmt,case", ALL)
def test_same_push_same_bytes(fmt, case):
    assert render(fmt, case) == render(fmt, case)


# --- ninjs 2.2 and 3.1 ---------------------------------------------------------------

def ninjs(fmt: str, case: str) -> dict:
    doc = json.loads(render(fmt, case))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATORS[fmt].iter_errors(doc)]
    assert not errors, errors
    return doc


@pytest.mark.parametrize("fmt", ["ninjs", "ninjs3"])
@pytest.mark.parametrize("case", list(PUSHES))
def test_ninjs_valid_against_iptc_schema(fmt, case):
    doc = ninjs(fmt, case)
    assert doc["uri"] == (URN if case != "withdrawn-unpublished" else NEVER)
    assert doc["version"] == str(PUSHES[case].version)


@pytest.mark.parametrize("fmt,keys", [
    ("ninjs", ("pubstatus", "firstcreated", "versioncreated", "contenttype", "altids", "infosources",
               "sizeinbytes")),
    ("ninjs3", ("pubStatus", "firstCreated", "versionCreated", "contentType", "altIds", "infoSources",
                "sizeInBytes")),
])
def test_ninjs_published_fields(fmt, keys):
    status, first, created, ctype, altids, sources, size = keys
    doc = ninjs(fmt, "published")
    assert doc["standard"]["version"] == ("2.2" if fmt == "ninjs" else "3.1")
    assert (doc["type"], doc[status], doc["language"]) == ("text", "usable", "kk")
    assert doc[first] == doc[created] == "2026-11-20T09:00:00+05:00"
    assert doc["headlines"] == [{"role": "main", "value": V1["headline"]}]
    assert doc["descriptions"] == [{"role": "summary", ctype: "text/plain", "value": V1["summary"]}]
    assert doc["bodies"] == [{"role": "main", ctype: "text/html", "value": V1["body_html"]}]
    assert doc["by"] == "Айгерім Нұрланқызы, Ирина Ким, Adlet Seilkhanov"
    assert doc["subjects"] == [{"name": "Экономика"}, {"name": "Қазақстан"}, {"name": "Transport"}]
    assert doc["located"] == "АСТАНА"
    assert doc[sources] == [{"name": "Newsroom Example"}]
    assert doc[altids] == [{"role": "url", "value": URL}]
    pic, plain = doc["associations"]
    assert (pic["name"], pic["type"], pic["uri"]) == ("image1", "picture", "https://news.example/media/lrt.jpg")
    assert pic["descriptions"][0]["value"] == "Пойыз әуежай бекетінде"
    assert pic["renditions"] == [{"name": "original", "href": "https://news.example/media/lrt.jpg",
                                  ctype: "image/jpeg", "width": 1600, "height": 900, size: 245123}]
    assert "descriptions" not in plain and plain["renditions"][0][ctype] == "image/png"


@pytest.mark.parametrize("fmt", ["ninjs", "ninjs3"])
def test_ninjs_update_keeps_uri_and_moves_version(fmt):
    v1, v2 = ninjs(fmt, "published"), ninjs(fmt, "updated")
    created = "versioncreated" if fmt == "ninjs" else "versionCreated"
    assert v1["uri"] == v2["uri"] == URN
    assert (v1["version"], v2["version"]) == ("1", "2")
    assert v2[created] == "2026-11-20T07:30:00+00:00"
    assert v2["headlines"][0]["value"] == V2["headline"]


@pytest.mark.parametrize("fmt", ["ninjs", "ninjs3"])
def test_ninjs_correction_note_is_the_ednote_and_an_ordinary_update_has_none(fmt):
    note = "ednote" if fmt == "ninjs" else "edNote"
    # Plain text: the note's markup is dropped when stored (text.clean_article), never sent as HTML.
    assert ninjs(fmt, "corrected")[note] == "An earlier version gave the wrong line length & opening date."
    assert note not in ninjs(fmt, "updated")


def test_json_push_carries_the_correction_only_when_there_is_one():
    assert json.loads(render("json", "corrected"))["article"]["correction"] == {
        "note": "An earlier version gave the wrong line length & opening date."}
    assert "correction" not in json.loads(render("json", "updated"))["article"]
    assert "correction" not in V2 and "correction" not in V1  # stored without the key, not as null


@pytest.mark.parametrize("fmt", ["ninjs", "ninjs3"])
def test_ninjs_withdrawal_is_canceled(fmt):
    doc = ninjs(fmt, "withdrawn")
    status, note, kind = ("pubstatus", "ednote", "representationtype") if fmt == "ninjs" else (
        "pubStatus", "edNote", "representationType")
    assert (doc["uri"], doc["version"], doc[status], doc[kind]) == (URN, "3", "canceled", "partial")
    assert doc[note] == "Эмбарго бұзылды / Нарушено эмбарго."
    assert doc["headlines"][0]["value"] == V2["headline"]
    assert not {"bodies", "descriptions", "associations"} & doc.keys()
    bare = ninjs(fmt, "withdrawn-unpublished")
    assert set(bare) == {"uri", "standard", "type", "version", status, kind, note}


@pytest.mark.parametrize("fmt", ["ninjs", "ninjs3"])
def test_ninjs_validation_is_live(fmt):
    doc = json.loads(render(fmt, "published"))
    created = "versioncreated" if fmt == "ninjs" else "versionCreated"
    for broken in ({**doc, "version": 1}, {**doc, created: "20 Nov 2026"}, {**doc, "uri": "not a uri"},
                   {**doc, "surprise": True}):
        assert list(VALIDATORS[fmt].iter_errors(broken)), broken


# --- Atom -----------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["published", "updated"])
def test_atom_entry_document(case):
    body, article = render("atom", case), PUSHES[case].article
    root = etree.fromstring(body)  # strict
    assert root.tag == f"{{{ATOM}}}entry"
    x = lambda path: root.xpath(path, namespaces=NS)  # noqa: E731
    assert x("string(a:id)") == URN
    assert x("string(a:title)") == article["headline"]
    assert x("a:author/a:name/text()") == article["authors"]
    assert x("a:category/@term") == article["categories"]
    assert x("a:link[@rel='alternate']/@href") == [URL]
    assert x("a:link[@rel='enclosure']/@type") == ["image/jpeg", "image/png"]
    assert x("a:link[@rel='enclosure']/@length") == ["245123"]
    assert x("string(a:content/@type)") == "html"
    assert x("string(@xml:lang)") == "kk"

    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    e = parsed.entries[0]
    assert (e.id, e.title, e.link) == (URN, article["headline"], URL)
    assert [a.name for a in e.authors] == article["authors"]
    assert [t.term for t in e.tags] == article["categories"]
    assert e.summary == article["summary"]
    assert e.content[0].value == article["body_html"]
    assert e.published == "2026-11-20T09:00:00+05:00"
    assert e.updated == ("2026-11-20T09:00:00+05:00" if case == "published" else "2026-11-20T07:30:00+00:00")
    assert [link.href for link in e.links if link.rel == "enclosure"] == [
        "https://news.example/media/lrt.jpg", "https://news.example/media/map.png"]


def test_atom_entry_without_authors_names_the_publisher():
    push = Push("d9", "e9", "article.published", "kk-2026-11-20-lrt", 1, stored(authors=[]), False)
    root = etree.fromstring(PUSH_FORMATS["atom"].render(push, base_url=BASE))
    assert root.xpath("a:author/a:name/text()", namespaces=NS) == ["Newsroom Example"]


def test_atom_withdrawal_is_an_rfc6721_tombstone():
    root = etree.fromstring(render("atom", "withdrawn"))
    assert root.tag == f"{{{AT}}}deleted-entry"
    assert root.get("ref") == URN  # the id of the entry it deletes
    assert root.get("when") == "2026-11-20T07:30:00+00:00"
    assert root.xpath("string(at:comment)", namespaces=NS) == "Эмбарго бұзылды / Нарушено эмбарго."
    assert feedparser.parse(render("atom", "withdrawn")).bozo == 0
    bare = etree.fromstring(render("atom", "withdrawn-unpublished"))
    assert (bare.get("ref"), bare.get("when")) == (NEVER, "1970-01-01T00:00:00+00:00")


# --- RSS ------------------------------------------------------------------------------

def rss(case: str):
    body = render("rss", case)
    root = etree.fromstring(body)  # strict
    assert root.tag == "rss" and root.get("version") == "2.0"
    assert len(root.findall("channel/item")) == 1
    assert all(root.findtext(f"channel/{t}") for t in ("title", "link", "description"))
    assert not root.xpath("channel/a:link[@rel='self']", namespaces=NS)  # a push has no feed URL
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert len(parsed.entries) == 1
    return root.find("channel/item"), parsed.entries[0]


@pytest.mark.parametrize("case", ["published", "updated"])
def test_rss_one_item(case):
    article = PUSHES[case].article
    item, e = rss(case)
    assert (e.title, e.link, e.id) == (article["headline"], URL, URN)
    assert item.find("guid").get("isPermaLink") == "false"
    assert e.summary == article["summary"]
    assert e.content[0].value == article["body_html"]
    assert item.xpath("dc:creator/text()", namespaces=NS) == article["authors"]
    assert [t.term for t in e.tags] == article["categories"]
    assert e.published_parsed[:5] == (2026, 11, 20, 4, 0)
    assert [(x.href, x.type) for x in e.enclosures] == [("https://news.example/media/lrt.jpg", "image/jpeg")]
    assert item.xpath("media:content/@url", namespaces=NS) == [
        "https://news.example/media/lrt.jpg", "https://news.example/media/map.png"]


def test_rss_withdrawal_keeps_the_guid():
    _, original = rss("published")
    item, e = rss("withdrawn")
    assert e.id == original.id == URN and item.find("guid").get("isPermaLink") == "false"
    assert e.title == f"Withdrawn: {V2['headline']}"
    assert e.summary == "Эмбарго бұзылды / Нарушено эмбарго."
    assert [t.term for t in e.tags] == ["withdrawn"]
    assert item.find("{%s}encoded" % NS["content"]) is None and not e.get("enclosures")
    item, e = rss("withdrawn-unpublished")
    assert (e.id, item.find("guid").get("isPermaLink"), item.find("link")) == (
        NEVER, "false", None)


# --- json (our own) ---------------------------------------------------------------------

def test_json_format_still_works():
    doc = json.loads(render("json", "updated"))
    assert (doc["delivery_id"], doc["type"], doc["article"]["version"]) == ("d2", "article.updated", 2)
    assert doc["article"]["headline"] == V2["headline"]
    gone = json.loads(render("json", "withdrawn"))
    assert gone["article"] == {"id": V2["id"], "version": 3, "reason": "Эмбарго бұзылды / Нарушено эмбарго."}  # plain text


@pytest.mark.parametrize("fmt", ["ninjs", "ninjs3", "atom", "rss"])
def test_non_withdrawal_without_article_data_fails_loudly(fmt):
    push = Push("d5", "e5", "article.updated", "lost-1", 4, None, False)
    with pytest.raises(ValueError, match="no article data"):
        PUSH_FORMATS[fmt].render(push, base_url=BASE)
