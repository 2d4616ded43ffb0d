"""`article.embargoed`: in the event schema, and marked in every push format by its standard.

ninjs 2.2 `embargoed` and 3.1 `embargoedUntil` are validated against the IPTC schemas; Atom and
RSS carry `dcterms:available` and still parse strictly (lxml) and cleanly (feedparser bozo 0).
"""

from __future__ import annotations

import json

import feedparser
import pytest
from lxml import etree

from syndication.errors import InvalidEvent
from syndication.event_schema import json_schema
from syndication.events import embargoed_until, parse_event
from syndication.partners.formats import PUSH_FORMATS, Push
from tests.unit.test_formats import VALIDATORS, stored

DCTERMS = "{http://purl.org/dc/terms/}available"
HELD = stored(embargoed="2026-11-20t12:00:00z")  # lower-case t/z: legal RFC 3339
INSTANT = "2026-11-20T12:00:00+00:00"
PUSH = Push("d1", "e1", "article.published", HELD["id"], 1, HELD, False)


def test_the_event_field_is_validated_like_the_other_dates_and_published_in_the_schema():
    for article in ("PublishedArticle", "UpdatedArticle"):
        props = json_schema()["$defs"][article]["properties"]["embargoed"]
        assert any(o.get("format") == "date-time" and "pattern" in o for o in props["anyOf"]), props
    with pytest.raises(InvalidEvent) as bad:
        stored(embargoed="tomorrow at ten")
    assert bad.value.problems[0]["field"] == "article.embargoed"
    assert embargoed_until(HELD) == embargoed_until({"embargoed": INSTANT}) and embargoed_until(stored()) is None


@pytest.mark.parametrize("fmt, name", [("ninjs", "embargoed"), ("ninjs3", "embargoedUntil")])
def test_ninjs_marks_it_with_its_own_property(fmt, name):
    doc = json.loads(PUSH_FORMATS[fmt].render(PUSH, base_url="https://x.example"))
    assert doc[name] == INSTANT
    VALIDATORS[fmt].validate(doc)
    plain = json.loads(PUSH_FORMATS[fmt].render(Push("d", "e", "article.published", HELD["id"], 1, stored(), False),
                                                 base_url="https://x.example"))
    assert name not in plain


def test_json_keeps_the_field_in_the_article():
    assert embargoed_until(json.loads(PUSH_FORMATS["json"].render(PUSH, base_url="https://x.example"))["article"]) \
        == embargoed_until({"embargoed": INSTANT})


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_atom_and_rss_carry_dcterms_available(fmt):
    body = PUSH_FORMATS[fmt].render(PUSH, base_url="https://x.example")
    found = etree.fromstring(body).findall(f".//{DCTERMS}")
    assert [el.text for el in found] == [INSTANT]
    assert feedparser.parse(body).bozo == 0
    plain = PUSH_FORMATS[fmt].render(Push("d", "e", "article.published", HELD["id"], 1, stored(), False),
                                      base_url="https://x.example")
    assert b"dcterms" not in plain


def test_parse_event_accepts_an_offset():
    event = parse_event({"event_id": "e", "type": "article.published", "occurred_at": "2026-11-20T09:00:00Z",
                         "article": {"id": "a", "version": 1, "url": "https://x.example/a", "language": "en",
                                     "headline": "H", "published_at": "2026-11-20T09:00:00Z",
                                     "embargoed": "2026-11-20T15:00:00+05:00"}})
    assert event.article.embargoed.isoformat() == "2026-11-20T15:00:00+05:00"
