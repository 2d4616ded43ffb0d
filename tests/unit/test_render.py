"""Feed rendering: valid for feedparser and strict XML, byte-stable, safe with hostile input."""

import json
import re
from pathlib import Path

import feedparser
import jsonschema
import pytest
from lxml import etree

from syndication.feeds.links import as_uri, rss_url
from syndication.feeds.render import CONTENT_TYPES, RENDERERS
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


# --- W3C validity (issue 22 item 5): every Atom entry has an author, ids are valid URIs -----------

ATOM_NS = "{http://www.w3.org/2005/Atom}"


def w3c_articles() -> list[dict]:
    """Articles that once made an invalid feed, or might: no authors, ids with `/` and dot-segments,
    markup and control characters in plain-text fields, URLs with queries, no body, no images."""
    return [
        art(1, id="desk/2026/../story", authors=[]),
        art(2, id="a/../b", authors=[], source="Kazinform"),
        art(3, id="kz:1@desk.", authors=["Ann <b>&amp;</b> Bob", "Дәулет"], categories=["<svg>", "A & B"],
            subjects=[{"qcode": "medtop:20000003", "name": "A & <b>B</b>"}, {"qcode": "medtop:11000000"}]),
        art(4, headline="Bad\x00\x0b chars \ufffe & <script>x</script>", summary="]]> &lt;", body_html="",
            images=[], url="https://пример.kz/жаңалық|{1}?x=1&y=^2#f#g", authors=[]),
        art(5, body_html='<p onclick="x()">ok</p><img src="https://news.example/i.jpg" alt="">',
            images=[{"url": "https://news.example/5.png", "mime_type": "image/png", "length": 10, "caption": "&"}]),
    ]


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_feeds_pass_the_w3c_validator(fmt):
    from tests.support.w3c import validate

    base = "http://127.0.0.1:8000"
    for articles in (w3c_articles(), []):  # an empty feed too
        body = RENDERERS[fmt](SPEC, articles, base, hub="https://hub.example/")
        report = validate(body, content_type=CONTENT_TYPES[fmt], base=f"{base}/feeds/all.{fmt}")
        assert report.feed_type == fmt and report.errors == [], report


def test_every_atom_entry_has_an_author():
    """RFC 4287 4.1.2: the article's authors, else its source, else its URL's host (the push format's rule)."""
    feed = etree.fromstring(RENDERERS["atom"](SPEC, w3c_articles(), "http://h"))
    assert feed.find(f"{ATOM_NS}author") is None
    authors = [[n.text for n in e.iterfind(f"{ATOM_NS}author/{ATOM_NS}name")] for e in feed.iterfind(f"{ATOM_NS}entry")]
    assert authors == [["news.example"], ["Kazinform"], ["Ann & Bob", "Дәулет"], ["пример.kz"],
                       ["Adlet Seilkhanov"]]
    rss = etree.fromstring(RENDERERS["rss"](SPEC, w3c_articles(), "http://h"))
    creators = [i.findtext("{http://purl.org/dc/elements/1.1/}creator") for i in rss.iter("item")]
    assert creators == [None, None, "Ann & Bob", None, "Adlet Seilkhanov"]  # RSS: real bylines only


def test_the_id_is_one_tag_uri_in_every_format_and_every_version():
    v1 = art(1, id="desk/a/../b")
    v2 = art(1, id="desk/a/../b", version=2, headline="New", published_at="2026-11-22T09:00:00+00:00",
             updated_at="2026-11-23T09:00:00+00:00")
    want = "tag:h,2026-12-07:article:desk%2Fa%2F..%2Fb"
    for a in (v1, v2):
        atom = etree.fromstring(RENDERERS["atom"](SPEC, [a], "http://h"))
        rss = etree.fromstring(RENDERERS["rss"](SPEC, [a], "http://h"))
        json_item = json.loads(RENDERERS["json"](SPEC, [a], "http://h"))["items"][0]
        assert atom.findtext(f"{ATOM_NS}entry/{ATOM_NS}id") == rss.findtext("channel/item/guid") == \
            json_item["id"] == want


# URLs the API accepts that a URI cannot hold: every output gets the URI for them (RFC 3987 3.1).
_URI = re.compile(r"^https?://[A-Za-z0-9\-._~!$&'()*+,;=:@%\[\]]*(/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*)?"
                  r"(\?[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*)?(#[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*)?$")


@pytest.mark.parametrize("url,uri", [
    ("https://news.example/a/b?x=1&y=2#f", "https://news.example/a/b?x=1&y=2#f"),  # a URI: unchanged
    ("https://user:p%41ss@[::1]:8080/x?", "https://user:p%41ss@[::1]:8080/x?"),
    ("https://NEWS.EXAMPLE./a;b=c", "https://NEWS.EXAMPLE./a;b=c"),
    ("https://пример.kz/жаңалық", "https://xn--e1afmkfd.kz/%D0%B6%D0%B0%D2%A3%D0%B0%D0%BB%D1%8B%D2%9B"),
    ("https://news.example/{a}|b^`c[1]", "https://news.example/%7Ba%7D%7Cb%5E%60c%5B1%5D"),
    ("https://news.example/a%zz?q=%#f#g", "https://news.example/a%25zz?q=%25#f%23g"),
    ("https://news.example/\u2028\u202e", "https://news.example/%E2%80%A8%E2%80%AE"),
])
def test_urls_become_uris(url, uri):
    assert as_uri(url) == uri and _URI.match(uri) and as_uri(uri) == uri


def test_every_url_in_a_feed_is_the_uri():
    a = art(1, url="https://пример.kz/a|b", images=[{"url": "https://news.example/ä.png", "mime_type": "image/png"}])
    rss = RENDERERS["rss"](SPEC, [a], "http://h").decode()
    atom = RENDERERS["atom"](SPEC, [a], "http://h").decode()
    item = json.loads(RENDERERS["json"](SPEC, [a], "http://h"))["items"][0]
    for body in (rss, atom, json.dumps(item)):
        assert "https://xn--e1afmkfd.kz/a%7Cb" in body and "https://news.example/%C3%A4.png" in body
        assert "пример" not in body and "ä.png" not in body


@pytest.mark.parametrize("url,rss", [
    ("https://news.example/a", "https://news.example/a"),
    ("https://user:pass@NEWS.Example.:8443/a?b#c", "https://news.example:8443/a?b#c"),  # no credentials in a feed
    ("https://пример.kz/ä", "https://xn--e1afmkfd.kz/%C3%A4"),
    ("http://127.0.0.1:8000/a", "http://127.0.0.1:8000/a"),
    ("https://[::1]:8443/a", None), ("https://localhost/a", None), ("https://a'b=c(1)/x", None),
])
def test_rss_carries_only_urls_of_named_hosts(url, rss):
    assert rss_url(url) == rss
    a = art(1, url=url, images=[{"url": url, "mime_type": "image/png"}])
    channel = etree.fromstring(RENDERERS["rss"](SPEC, [a], "http://h"))[0]
    assert channel.findtext("item/link") == rss and (channel.find("item/enclosure") is not None) == bool(rss)
    atom = etree.fromstring(RENDERERS["atom"](SPEC, [a], "http://h"))
    assert {link.get("href") for link in atom.iter(f"{ATOM_NS}link") if link.get("rel") in ("alternate", "enclosure")
            and link.get("href") != "http://h/feeds"} == {as_uri(url)}  # Atom carries every URL
