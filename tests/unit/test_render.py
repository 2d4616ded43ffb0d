"""Feed rendering: valid for feedparser and strict XML, byte-stable, safe with hostile input."""

import json
from pathlib import Path

import feedparser
import jsonschema
import pytest
from lxml import etree

from syndication.feeds.render import RENDERERS
from syndication.feeds.spec import FeedSpec
from syndication.text import clean_article

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
JSONFEED_SCHEMA = json.loads((SCHEMAS / "jsonfeed-1.1.schema.json").read_text())
SPEC = FeedSpec(name="all", title="All news", description="Everything", language="en")


def art(i=1, **kw):
    a = {
        "id": f"a{i}", "version": 1, "url": f"https://news.example/a{i}", "language": "en",
        "headline": f"Headline {i}", "summary": f"Summary {i}", "body_html": f"<p>Body {i}</p>",
        "authors": ["Adlet Seilkhanov"], "categories": ["Economy", "Kazakhstan"],
        "published_at": f"2026-11-2{i}T10:00:00+05:00", "updated_at": f"2026-11-2{i}T11:00:00+05:00",
        "images": [{"url": f"https://news.example/{i}.jpg", "caption": "cap", "mime_type": "image/jpeg",
                    "width": 100, "height": 50}],
    }
    a.update(kw)
    return clean_article(a)


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_xml_feeds_parse_strictly_and_cleanly(fmt):
    body = RENDERERS[fmt](SPEC, [art(2), art(1)], "http://127.0.0.1:8000")
    etree.fromstring(body)  # strict: raises on any XML error
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0
    e = parsed.entries[0]
    assert e.title == "Headline 2"
    assert e.link == "https://news.example/a2"
    assert e.author == "Adlet Seilkhanov"
    assert [t.term for t in e.tags] == ["Economy", "Kazakhstan"]
    assert "Body 2" in e.content[0].value
    assert parsed.feed.language == "en"


def test_rss_self_link_and_channel_link():
    parsed = feedparser.parse(RENDERERS["rss"](SPEC, [art()], "http://h"))
    assert parsed.feed.link == "http://h/feeds"  # feedgen quirk: last link added becomes <link>
    assert any(link.rel == "self" and link.href == "http://h/feeds/all.rss" for link in parsed.feed.links)


def test_same_state_same_bytes():
    a = [art(2), art(1)]
    for fmt, render in RENDERERS.items():
        assert render(SPEC, a, "http://h") == render(SPEC, a, "http://h"), fmt


def entry_text(fmt: str, body: bytes) -> tuple[str, str]:
    """(title, content HTML) of the first item, read the way a client of that format reads it."""
    if fmt == "json":
        doc = json.loads(body.decode("utf-8"))  # strict UTF-8: a lone surrogate would not decode
        jsonschema.Draft202012Validator(JSONFEED_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)
        return doc["items"][0]["title"], doc["items"][0]["content_html"]
    etree.fromstring(body)  # strict XML
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed.entries[0].title, parsed.entries[0].content[0].value


@pytest.mark.parametrize("fmt", list(RENDERERS))
def test_hostile_content_never_breaks_a_feed(fmt):
    nasty = art(
        1,
        headline="Bad\x00\x08\x0b\x0c chars \ufffe\uffff and \ud800 surrogate",
        body_html='<p onclick="x()">ok ]]> <script>alert(1)</script><a href="javascript:evil()">l</a> '
                  "سلام Қазақстан Россия 🎉</p>" + "y" * (1024 * 1024),
    )
    title, content = entry_text(fmt, RENDERERS[fmt](SPEC, [nasty], "http://h"))
    assert "<script" not in content and "javascript:" not in content and "onclick" not in content
    assert "Қазақстан" in content and "سلام" in content and "🎉" in content
    assert "]]>" in content or "]]&gt;" in content
    assert title == "Bad chars and surrogate"  # control characters, non-characters, surrogates: gone
