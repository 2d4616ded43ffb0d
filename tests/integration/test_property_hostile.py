"""Property-based hostile input (issue 10, point 3): whatever a publisher sends, nothing breaks or leaks.

This module owns the hypothesis strategies for hostile article events and the one property that
runs them through the real service (API, events/feeds/deliveries workers on a throwaway Redis):

- every field of an event (ids, version, type, dates, URL, language, every text field, authors,
  categories, images and their url/caption/mime/width/height/length, a withdrawal's reason, and
  unknown fields) is drawn from hostile values: text from all Unicode planes with control
  characters, NUL, U+FFFE/FFFF, RTL marks and lone surrogates (escaped in the JSON, or sent as
  invalid UTF-8); dates in and out of the accepted range with odd offsets, leap seconds, years
  0001/9999; nesting (deep arrays/objects, in known and unknown fields); markup (scripts, event
  handlers, javascript:/data: URLs, entity- and double-encoded markup, CDATA ends, broken tags,
  SVG, attribute injection with quotes);
- the API never answers 5xx; it accepts exactly what `parse_event` accepts and a 422 names a
  field for every problem;
- every accepted event, once applied, renders in every feed format and every push format from
  the stored state without an exception, and no output holds `<script`, an event-handler
  attribute or a javascript:/vbscript:/data: URL, neither as it stands nor after one more HTML
  decoding (readers render RSS description, content:encoded and content_html as HTML, and some
  decode them twice); RSS/Atom are strict XML and feedparser-clean (bozo 0);
- the served feeds (/feeds/all.{rss,atom,json}) hold to the same rules at the end.

Ids start with `prop-<n>-` so no other test sees them; every category that a scenario partner or
feed filters on is steered away from, and every article still live at the end is withdrawn,
so future-dated stories do not crowd other tests' articles out of the `all` feed.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from syndication.articles import ArticleStore
from syndication.delivery import records
from syndication.delivery.model import Delivery
from syndication.delivery.push import build_push
from syndication.errors import InvalidEvent
from syndication.events import ID_PATTERN, parse_event
from syndication.feeds import index
from syndication.feeds.render import RENDERERS, render_every_format
from syndication.feeds.store import live_articles, render_all
from syndication.partners.formats import PUSH_FORMATS, Push
from syndication.text import plain_text
from tests.support.config import SCENARIOS
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

PREFIX = "prop"
G2_SCHEMA = etree.XMLSchema(etree.parse(str(
    Path(__file__).resolve().parents[1] / "schemas" / "newsml-g2-2.35" / "NewsML-G2_2.35-spec-All-Power.xsd")))
MAX_EXAMPLES = 100
_serial = itertools.count(1)  # numbers every drawn case: ids are `prop-<n>-...`, unique in the session

# --- hostile building blocks -------------------------------------------------------------------

SPECIAL_CHARS = [
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f", "\xa0", "\xad",
    "\u200b", "\u200d", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069", "\u2028", "\u2029",
    "\u0301", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u05e2\u05d1\u05e8\u05d9\u05ea", "\ufeff",
    "\ufdd0", "\ufffd", "\ufffe", "\uffff", "\U0001f4a9", "\U0001fffe", "\U0001ffff", "\U000e0001",
    "\U0010ffff", "\U0010fffe", "\U0002a6d6", "\u0130", "\u01c4", "\uff1c", "\u2039", "\r\n", "\t",
    "\\", "\\u003cscript\\u003e", "%3Cscript%3E", "\"", "'", "`", "&", ";", "]]>", "<", ">",
]
LONE_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d"]

MARKUP = [
    "<script>alert(1)</script>", "<SCRIPT SRC=//evil.example/x.js></SCRIPT>", "<script",
    "<scr<script>ipt>alert(1)</scr</script>ipt>", "<img src=x onerror=alert(1)>",
    "<IMG SRC=\"jav&#x09;ascript:alert(1)\">", "<img src=\"data:image/svg+xml,<svg onload=alert(1)>\">",
    "<svg onload=alert(1)>", "<svg/onload=alert(1)>", "<svg><script>alert(1)</script></svg>",
    "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>", "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\" javascript:alert(1)\">x</a>", "<a href=\"java\tscript:alert(1)\">x</a>",
    "<a href=\"&#106;&#97;vascript:alert(1)\">x</a>", "<a href=\"&#x6A;avascript&#x3A;alert(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>", "<a href=\"https://ok.example/?q=1&onclick=2\">ok</a>",
    "<iframe src=\"javascript:alert(1)\"></iframe>", "<object data=\"javascript:alert(1)\"></object>",
    "<form action=\"javascript:alert(1)\"><button>go</button></form>",
    "<blockquote cite=\"javascript:alert(1)\">q</blockquote>", "<q cite=\" JaVaScRiPt:alert(1)\">q</q>",
    "<del cite=\"data:text/html,x\">d</del>", "<p style=\"background:url(javascript:alert(1))\">p</p>",
    "<style>@import 'javascript:alert(1)';</style>", "<base href=\"javascript:alert(1)//\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">", "<body onload=alert(1)>",
    "&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;",
    "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;", "&#60;script&#62;alert(1)&#60;/script&#62;",
    "&#x3C;svg onload=alert(1)&#x3E;", "&ltscript&gtalert(1)", "&amp;#60;img src=x onerror=alert(1)&amp;#62;",
    "&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;", "&quot; onmouseover=&quot;alert(1)",
    "]]>", "<![CDATA[<script>alert(1)</script>]]>", "]]><script>alert(1)</script><![CDATA[",
    "<img src=x onerror=alert(1)//", "<a href=\"x", "<<script>alert(1)//<</script>", "</", "<!--",
    "-->", "<!-- <script>alert(1)</script> -->", "<?xml version=\"1.0\"?>", "<!DOCTYPE x [<!ENTITY e \"boom\">]>&e;",
    "\" onmouseover=\"alert(1)", "' onfocus='alert(1)' autofocus='", "\"><script>alert(1)</script>",
    "'><img src=x onerror=alert(1)>", "<a title='\" onmouseover=alert(1) x=\"'>t</a>",
    "<img alt=\"<script>alert(1)</script>\" src=\"https://img.example/a.png\">",
    "<a href=\"https://ok.example/\" title=\"&quot; onclick=alert(1) x=&quot;\">t</a>",
    "<p title=\"&amp;quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\">p</p>",
    "<p>&lt;</p><p>script&gt;</p>", "<div><div><div><p>deep</p></div></div></div>", "<br/><hr>",
    "<table><tr><td colspan=\"2\" onclick=\"x\">c</td></tr></table>", "<p dir=\"rtl\" lang=\"ar\">\u202eabc</p>",
    "&", "&amp;", "&#0;", "&#xD800;", "&#x110000;", "&#x1;", "&#12;", "&nbsp;", "&bogus;", "&#x202e;",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>",
]

# Categories that route an article to a scenario partner, the private partner or a filtered feed.
RESERVED_CATEGORIES = {c.casefold() for _, cats, _ in SCENARIOS.values() for c in cats} | {
    "private", "economy", "bursta", "burstb", "burstc"}


def _text(pieces: st.SearchStrategy, max_pieces: int) -> st.SearchStrategy[str]:
    return st.lists(pieces, max_size=max_pieces).map("".join)


_PIECE = st.one_of(
    st.sampled_from(MARKUP),
    st.sampled_from(SPECIAL_CHARS),
    st.text(max_size=12),  # every plane hypothesis draws from, surrogates aside
    st.text(st.characters(min_codepoint=0x10000), max_size=4),
    st.text(st.characters(max_codepoint=0x1f), max_size=4),
)
_BAD_PIECE = st.one_of(_PIECE, st.sampled_from(LONE_SURROGATES))
text_ok = _text(_PIECE, 6)
text_bad = st.one_of(_text(_BAD_PIECE, 6).map(lambda s: s + LONE_SURROGATES[len(s) % 5]),
                     st.integers(1000, 3000).map(lambda n: "x" * n * 40))  # past the bounds but summary's
markup_ok = _text(st.one_of(st.sampled_from(MARKUP), st.sampled_from(MARKUP), _PIECE), 10)


@dataclass(frozen=True)
class Deep:
    """A placeholder for JSON nested `depth` levels deep (written out by `encode`, not json.dumps)."""
    depth: int
    kind: str  # "[" or "{"

    @property
    def token(self) -> str:
        return f"\x00DEEP{self.kind}{self.depth}\x00"

    def json(self) -> str:
        if self.kind == "[":
            return "[" * self.depth + "]" * self.depth
        return '{"a":' * self.depth + "null" + "}" * self.depth


# 300 parses everywhere; 3000 and more is refused as "nested too deeply" everywhere.
deep = st.builds(Deep, st.sampled_from([2, 40, 300, 3000, 100_000]), st.sampled_from(["[", "{"])).map(
    lambda d: d.token)
deep_ok = st.builds(Deep, st.sampled_from([2, 40, 300]), st.sampled_from(["[", "{"])).map(lambda d: d.token)


def _nested(leaf_text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), leaf_text)
    return st.recursive(leaf, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(leaf_text, inner, max_size=3)), max_leaves=12)


nested_ok = _nested(_text(_PIECE, 2))  # no lone surrogate: valid in an unknown field
nested_bad = _nested(_text(_BAD_PIECE, 2))
junk = st.one_of(nested_bad, deep)  # anything at all, for a known field's wrong type
_UNKNOWN_KEYS = ["x-extra", "meta", "article_v2", "__proto__", "constructor", "tags\u202e", "", "\x00", "<script>"]
# Unknown fields are ignored, however deep (up to what the JSON parser takes) and whatever they hold...
unknown_ok = st.dictionaries(st.sampled_from(_UNKNOWN_KEYS), st.one_of(nested_ok, deep_ok), max_size=2)
# ...except a lone surrogate (in a key or a value) or nesting past the parser's limit.
unknown_bad = st.dictionaries(st.sampled_from(_UNKNOWN_KEYS + ["\udc00"]), st.one_of(nested_bad, deep),
                              min_size=1, max_size=2)


# --- dates ------------------------------------------------------------------------------------

OFFSETS = ["Z", "z", "+00:00", "-00:00", "-00:01", "+00:01", "+14:00", "-14:00", "+05:45", "-09:30",
           "+23:59", "-23:59"]
BAD_OFFSETS = ["+24:00", "+99:99", "+1400", "+14", "", " Z", "Z\n", "+05:45:30", "GMT"]


@st.composite
def date_ok(draw) -> str:
    year = draw(st.sampled_from([1900, 1901, 1970, 1999, 2000, 2024, 2026, 2027, 2030, 2035]))
    month, day = draw(st.integers(1, 12)), draw(st.integers(1, 28))
    hh, mm, ss = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    frac = draw(st.sampled_from(["", ".0", ".5", ".123456", ".123456789", ".999999999"]))
    sep = draw(st.sampled_from(["T", "t", " "]))
    return f"{year:04d}-{month:02d}-{day:02d}{sep}{hh:02d}:{mm:02d}:{ss:02d}{frac}{draw(st.sampled_from(OFFSETS))}"


date_bad = st.one_of(
    st.sampled_from([
        "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-00:01", "9999-12-31T10:00:00-14:00", "9999-12-31T23:59:59.999999999+14:00",
        "10000-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "1900-01-01T00:00:00+00:01", "1900-01-01T00:00:00+14:00",
        "2016-12-31T23:59:60Z", "2016-12-31T23:59:60+14:00", "1972-06-30T23:59:60-00:01", "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z", "2026-11-21T24:00:00Z", "2026-11-21", "2026-11-21T09:30:00", "2026-11-21T09:30Z",
        "\uff12\uff10\uff12\uff16-11-21T09:30:00Z", "\u0662\u0660\u0662\u0666-11-21T09:30:00Z",
        "2026-11-21T09:30:00Z\u202e", "2026-11-21T09:30:00.1234567890Z", "yesterday", "", "NaN",
        "2126-01-01T00:00:00Z", "2026-11-21T09:30:00\x00Z",
    ]),
    st.builds(lambda d, o: d[:19] + o, date_ok(), st.sampled_from(BAD_OFFSETS)),
    st.one_of(st.integers(), st.floats(), st.none(), st.booleans()),
    junk,
)

# --- URLs, ids, the rest ----------------------------------------------------------------------

URL_TAILS = ["", "/", "/a/b?x=1&y=2#f", "/\u202etxt.exe", "/\u0430\u0440\u0440\u04cf\u0435", "/%00%3Cscript%3E",
             "/?q=javascript:alert(1)", "/'onmouseover='alert(1)", "/{}|^`", "/\u2028\u2029", "/\ufffe\uffff",
             "/\U0010ffff", "/;jsessionid=1", "/a/../../b", "/?&amp;&lt;", "/]]>", ":8080/p", "/\x85"]
url_ok = st.builds(
    lambda scheme, host, tail: f"{scheme}://{host}{tail}",
    st.sampled_from(["https", "http"]),
    st.sampled_from(["news.example", "xn--80ak6aa92e.example", "\u043f\u0440\u0438\u043c\u0435\u0440.example",
                     "user:pass@news.example", "[::1]", "127.0.0.1", "a'onload=alert(1)", "NEWS.EXAMPLE."]),
    st.sampled_from(URL_TAILS))
url_bad = st.one_of(
    st.sampled_from([
        "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)", "https://news.example/a b", "https://news.example/\"onmouseover=\"alert(1)",
        "https://news.example/<script>", "https://news.example\\@evil.example/", "https:///nohost", "https://[news",
        "https://news.example:99999/", "//news.example/x", "ftp://news.example/x", "https://news.example/\x00",
        "https://news.example/\t", "", "https://" + "a" * 2050,
    ]),
    text_ok, junk)

ID_TAILS = ["", "a", "x:deliveries", "a/../b", "desk/2026/story", "a@b.c", "..", "-", "_", "1.2.3", "A:B:C",
            "events:pending", "v1/articles", "../../etc/passwd", "//", "::", "@"]
id_ok = st.one_of(st.sampled_from(ID_TAILS), st.text("abcXYZ019._:@/-", max_size=12))
id_bad = st.one_of(st.sampled_from(["", "-a", ".a", "/a", "a" * 201, "a\n", "\u00e4", "a%2Fb", "a b", "<script>",
                                    "\u202ea", "a\x00", "\uff41"]), text_bad, junk)
version_ok = st.sampled_from([1, 1, 2, 7, 2**31, 2**53 - 1])
version_bad = st.one_of(st.sampled_from([0, -1, 2**53 + 1, 2**64, 10**400, "1", 1.0, 1.5, True, None, [1],
                                         {"v": 1}, 1e308]), junk)
language_ok = st.sampled_from(["en", "kk", "ru", "ar", "he", "zh-Hant-TW", "sr-Latn-RS-x-a"])
language_bad = st.one_of(
    st.sampled_from(["", "EN", "e", "en_US", "en-", "en\"><script>", "\u202een", "eng-" + "a" * 9]), text_ok, junk)
mime_ok = st.sampled_from(["image/jpeg", "image/png", "image/svg+xml", "image/x.y-z+1"])
mime_bad = st.one_of(st.sampled_from(["text/html", "image/", "IMAGE/JPEG", "image/svg+xml\"><script>", "image/png\n",
                                      "image/" + "a" * 101, "application/javascript"]), text_ok, junk)
dimension_ok = st.one_of(st.none(), st.sampled_from([1, 2, 640, 100_000]))
dimension_bad = st.one_of(st.sampled_from([0, -1, 100_001, 2**40 + 1, 1.5, "100", True, 10**30]), junk)


def _list_of(item: st.SearchStrategy, max_size: int) -> st.SearchStrategy[list]:
    return st.lists(item, max_size=max_size)


def _steer(categories: list) -> list:
    # A category a scenario partner or a filtered feed listens to would send the story there.
    return [f"prop {c}" if isinstance(c, str) and plain_text(c).casefold().strip() in RESERVED_CATEGORIES else c
            for c in categories]


short_ok = text_ok.map(lambda s: s[:200])  # within the 200-character bound of names and short fields
names_ok = _list_of(short_ok.map(lambda s: s or "x"), 4)
names_bad = st.one_of(st.sampled_from([[""], ["a", ""], ["x"] * 101]), text_ok.map(lambda s: [s + "x"] * 51),
                      _list_of(text_bad, 3).filter(bool), text_ok, junk, junk.map(lambda j: [j, "ok"]))


@st.composite
def image(draw, broken: bool) -> Any:
    if broken and draw(st.booleans()):
        return draw(junk)
    img: dict[str, Any] = {}
    parts = {"url": (url_ok, url_bad), "caption": (st.one_of(st.none(), text_ok), text_bad),
             "mime_type": (mime_ok, mime_bad), "width": (dimension_ok, dimension_bad),
             "height": (dimension_ok, dimension_bad), "length": (st.one_of(st.none(), st.sampled_from([0, 1, 2**40])),
                                                                   dimension_bad)}
    bad_part = draw(st.sampled_from([*sorted(parts), "extra"])) if broken else None
    for name, (ok, bad) in parts.items():
        value = draw(bad if name == bad_part else ok)
        if value is not None or name == "url":
            img[name] = value
    img.update(draw(unknown_bad if bad_part == "extra" else unknown_ok))
    return img


# Field name -> (acceptable-but-hostile values, values to refuse).
ARTICLE_FIELDS = {
    "url": (url_ok, url_bad), "language": (language_ok, language_bad),
    "headline": (text_ok.map(lambda s: s or "<b></b>"), text_bad), "summary": (text_ok, text_bad),
    "body_html": (markup_ok, text_bad), "authors": (names_ok, names_bad), "categories": (names_ok, names_bad),
    "section": (st.one_of(st.none(), short_ok), text_bad), "dateline": (st.one_of(st.none(), short_ok), text_bad),
    "source": (st.one_of(st.none(), short_ok), text_bad), "published_at": (date_ok(), date_bad),
    "updated_at": (st.one_of(st.none(), date_ok()), date_bad),
}
FIELDS = ["event_id", "type", "occurred_at", "id", "version", "images", "extra", "article.extra", *ARTICLE_FIELDS]


@dataclass
class Case:
    event: dict
    ascii_json: bool
    withdrawal: dict | None
    withdrawal_ascii: bool = True


def _id(value: Any, n: int, kind: str, ok: bool) -> Any:
    """Our prefix in front of a drawn id, so ids are unique and no other test meets them.

    A refused value is sent as drawn, unless it happens to be a valid id (then it is prefixed too).
    """
    # fullmatch without the pattern's ^...$ (Python's `$` would also take a final newline).
    if ok or (isinstance(value, str) and re.fullmatch(ID_PATTERN.strip("^$"), value)):
        return f"{PREFIX}-{n}-{kind}{value}"[:200]
    return value


@st.composite
def cases(draw) -> Case:
    n = next(_serial)
    # Half the events are meant to be accepted (every value hostile but valid), half break one or two fields.
    broken = set() if draw(st.booleans()) else set(draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2,
                                                                 unique=True)))

    def pick(name: str, ok, bad):
        return draw(bad if name in broken else ok)

    article: dict[str, Any] = {
        "id": _id(pick("id", id_ok, id_bad), n, "a", "id" not in broken),
        "version": pick("version", version_ok, version_bad),
    }
    for name, (ok, bad) in ARTICLE_FIELDS.items():
        value = pick(name, ok, bad)
        if value is not None:
            article[name] = value
    if isinstance(article.get("categories"), list):
        article["categories"] = _steer(article["categories"])
    article["images"] = (draw(junk) if "images" in broken and draw(st.booleans())
                         else [draw(image(broken="images" in broken)) for _ in range(draw(st.integers(0, 3)))])
    article.update(draw(unknown_bad if "article.extra" in broken else unknown_ok))
    event = {
        "event_id": _id(pick("event_id", id_ok, id_bad), n, "e", "event_id" not in broken),
        "type": pick("type", st.sampled_from(["article.published", "article.updated"]),
                     st.one_of(st.sampled_from(["ARTICLE.PUBLISHED", "article.published ", "article.deleted", "",
                                                "article.published\x00"]), text_ok, junk)),
        "occurred_at": pick("occurred_at", date_ok(), date_bad),
        "article": article,
        **draw(unknown_bad if "extra" in broken else unknown_ok),
    }
    withdrawal = None
    if draw(st.booleans()):
        same = draw(st.sampled_from([True, True, False]))  # mostly a withdrawal of the story just sent
        wid = article["id"] if same else _id(draw(id_ok), n, "w", True)
        version = article["version"] + 1 if same and isinstance(article["version"], int) else draw(version_ok)
        wbroken = draw(st.sampled_from([None, None, None, "reason", "occurred_at", "version", "id", "extra"]))
        withdrawal = {
            "event_id": f"{PREFIX}-{n}-withdrawn",
            "type": "article.withdrawn",
            "occurred_at": draw(date_bad if wbroken == "occurred_at" else date_ok()),
            "article": {"id": _id(draw(id_bad), n, "w", False) if wbroken == "id" else wid,
                        "version": draw(version_bad) if wbroken == "version" else version,
                        "reason": draw(text_bad if wbroken == "reason" else markup_ok),
                        **draw(unknown_bad if wbroken == "extra" else unknown_ok)},
        }
    return Case(event, draw(st.booleans()), withdrawal, draw(st.booleans()))



def encode(doc: dict, ascii_json: bool) -> bytes:
    """The request body: JSON with deep placeholders spliced in; lone surrogates escaped or as raw bytes."""
    text = json.dumps(doc, ensure_ascii=ascii_json)
    for match in set(re.findall(r'"\\u0000DEEP([\[{])(\d+)\\u0000"', text)):
        d = Deep(int(match[1]), match[0])
        text = text.replace(json.dumps(d.token), d.json())
    # Without ensure_ascii a lone surrogate cannot be UTF-8: it goes out as invalid bytes (CESU-8).
    return text.encode("utf-8", "surrogatepass")


# --- what no output may hold -------------------------------------------------------------------

DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:")
URL_ATTRIBUTES = {"href", "src", "cite", "action", "formaction", "xlink:href", "background", "poster", "data",
                  "srcset", "longdesc", "usemap", "lowsrc", "dynsrc", "ping", "manifest", "codebase", "ref", "url",
                  "uri"}
UNSAFE_ELEMENTS = {"script", "iframe", "frame", "object", "embed", "applet", "style", "base", "meta", "link", "form",
                   "svg", "math", "body", "html"}
_SCRIPT = re.compile(r"<script", re.I)
_TAG = re.compile(r"<[A-Za-z][^>]*")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_HANDLER = re.compile(r"[\s/\"']on[a-z]+\s*=", re.I)


def dangerous_url(value: str) -> bool:
    # Browsers drop ASCII whitespace and controls anywhere in a scheme ("java\tscript:").
    return re.sub(r"[\x00-\x20\x7f]", "", value).lower().startswith(DANGEROUS_SCHEMES)


class _TagScan(HTMLParser):
    """Tags and attributes as an HTML reader sees them (entities in attribute values decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in UNSAFE_ELEMENTS:
            self.found.append(f"<{tag}> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{name}= handler on <{tag}>")
            if name in URL_ATTRIBUTES and value and dangerous_url(value):
                self.found.append(f"{name}={value!r} on <{tag}>")

    handle_startendtag = handle_starttag


def live_markup(text: str) -> list[str]:
    """What is live in `text` rendered as HTML, as it stands and decoded once more."""
    found = []
    for html_text in (text, html.unescape(text)):
        if _SCRIPT.search(html_text):
            found.append("<script")
        scan = _TagScan()
        scan.feed(html_text)
        scan.close()
        found += scan.found
        # A second opinion on handlers, independent of html.parser: any `on...=` in a tag outside quotes.
        found += [f"handler in {t.group()[:80]!r}" for t in _TAG.finditer(html_text)
                  if _HANDLER.search(_QUOTED.sub('""', t.group()))]
    return found


def check_strings(strings, where: str) -> None:
    for path, text, is_url in strings:
        problems = live_markup(text)
        if is_url and dangerous_url(text):
            problems.append("dangerous URL")
        assert not problems, f"{where} at {path}: {problems} in {text[:300]!r}"


def xml_strings(root: etree._Element):
    url_elements = {"link", "guid", "id", "uri", "docs", "comments", "icon", "logo"}
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        local = etree.QName(el).localname
        if el.text:
            yield el.tag, el.text, local in url_elements
        if el.tail and el.tail.strip():
            yield el.tag + "/tail", el.tail, False
        for name, value in el.attrib.items():
            yield f"{el.tag}@{name}", value, etree.QName(name).localname in URL_ATTRIBUTES


def json_strings(value: Any, path: str = "$"):
    url_keys = {"url", "href", "uri", "image", "external_url", "home_page_url", "feed_url", "banner_image",
                "favicon", "icon", "avatar"}
    if isinstance(value, dict):
        url_value = value.get("role") == "url"  # ninjs altids: {"role": "url", "value": <URL>}
        for key, item in value.items():
            if isinstance(item, str):
                yield f"{path}.{key}", item, key in url_keys or (url_value and key == "value")
            else:
                yield from json_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from json_strings(item, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value, False


def check_xml(body: bytes, where: str) -> None:
    assert not _SCRIPT.search(body.decode("utf-8")), f"{where}: <script in the raw XML"
    root = etree.fromstring(body)  # strict XML: raises on anything malformed
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, f"{where}: feedparser bozo: {parsed.get('bozo_exception')!r}"
    check_strings(xml_strings(root), where)


def check_json(body: bytes, where: str) -> None:
    check_strings(json_strings(json.loads(body)), where)


def check_g2(body: bytes, where: str) -> None:
    """NewsML-G2 pushes: strict XML, valid against the IPTC 2.35 schema, no markup in any text."""
    assert not _SCRIPT.search(body.decode("utf-8")), f"{where}: <script in the raw XML"
    root = etree.fromstring(body)
    assert G2_SCHEMA.validate(root), f"{where}: not NewsML-G2 2.35: {G2_SCHEMA.error_log.last_error}"
    check_strings(xml_strings(root), where)


def check_output(fmt: str, body: bytes, where: str) -> None:
    """`fmt`: a feed format (rss, atom, json) or a push format's name."""
    checks = {"rss": check_xml, "atom": check_xml, "newsml-g2": check_g2, "newsml-g2-message": check_g2}
    checks.get(fmt, check_json)(body, where)


# --- the property ------------------------------------------------------------------------------

@dataclass
class Tally:
    examples: int = 0
    posted: int = 0
    accepted: int = 0
    rejected: int = 0
    withdrawals_accepted: int = 0
    renders: int = 0
    live: set = field(default_factory=set)  # accepted article ids not withdrawn (yet)
    statuses: dict = field(default_factory=dict)


def expected_problems(body: bytes) -> list[dict] | None:
    """What the service must answer: None (accepted), or the problems `parse_event` names."""
    try:
        parse_event(body)
    except InvalidEvent as exc:
        return exc.problems
    return None


def post(service, body: bytes, tally: Tally) -> requests.Response:
    resp = requests.post(f"{service.api_url}/v1/events", data=body, headers=service.headers(), timeout=30)
    tally.posted += 1
    tally.statuses[resp.status_code] = tally.statuses.get(resp.status_code, 0) + 1
    assert resp.status_code < 500, f"{resp.status_code} for {body[:500]!r}: {resp.text[:500]}"
    expected = expected_problems(body)
    if expected is None:
        assert resp.status_code == 202, f"refused a valid event ({resp.status_code}): {resp.text[:500]}"
        tally.accepted += 1
    else:
        assert resp.status_code == 422, f"{resp.status_code} for an invalid event: {resp.text[:500]}"
        problems = resp.json()["problems"]
        assert problems and all(isinstance(p.get("field"), str) and p["field"] for p in problems), problems
        assert {p["field"] for p in problems} == {p["field"] for p in expected}
        tally.rejected += 1
    return resp


def applied(service, event_id: str) -> dict:
    """Wait until the events worker has applied the event (status applied/stale); fail at once on an error."""
    ctx = service.ctx
    key = ctx.keys.event(event_id)

    def done():
        status, failures, error = ctx.redis.hmget(key, "status", "failures", "last_error")
        assert not failures, f"event {event_id} failed to apply: {error!r}"
        return status in (b"applied", b"stale") and status

    wait_for(done, timeout=20, interval=0.01, what=f"event {event_id} applied")
    return json.loads(ctx.redis.hget(key, "body"))


def pushes_for(service, article_id: str, event: dict) -> Push:
    """The Push a partner delivery of this event renders (as delivery.push builds it), else the same by hand."""
    ctx = service.ctx
    version = event["article"]["version"]
    recs = [r for r in records.for_article(ctx, article_id)
            if r["version"] == version and r["event_type"] == event["type"]]
    state = ArticleStore.of(ctx).get(article_id)
    if recs:
        return build_push(Delivery.from_hash({k.encode(): str(v).encode() for k, v in recs[0].items()}),
                          state, state.data if state else None)
    return Push(delivery_id=f"{PREFIX}-by-hand", event_id=event["event_id"], event_type=event["type"],
                article_id=article_id, version=version, article=state.data if state else None,
                withdrawn=event["type"] == "article.withdrawn", reason=state.reason if state else "",
                occurred_at=event.get("occurred_at"))


def render_and_check(service, event: dict, tally: Tally) -> None:
    ctx = service.ctx
    article_id = event["article"]["id"]
    state = ArticleStore.of(ctx).get(article_id)
    assert state is not None and state.version >= event["article"]["version"]
    where = f"{event['type']} {article_id!r} v{state.version}"
    if state.data is not None and not state.withdrawn:
        spec = ctx.settings.feed("all")
        for fmt, render in RENDERERS.items():
            body = render(spec, [state.data], ctx.settings.base_url, ctx.settings.websub_hub, time.time())
            check_output(fmt, body, f"feed {fmt} of {where}")
            tally.renders += 1
    push = pushes_for(service, article_id, event)
    for name, fmt in PUSH_FORMATS.items():
        body = fmt.render(push, base_url=ctx.settings.base_url)
        check_output(name, body, f"push {name} of {where}")
        tally.renders += 1


def run_case(service, case: Case, tally: Tally) -> None:
    tally.examples += 1
    resp = post(service, encode(case.event, case.ascii_json), tally)
    if resp.status_code == 202:
        stored = applied(service, case.event["event_id"])
        render_and_check(service, stored, tally)
        tally.live.add(stored["article"]["id"])
    if case.withdrawal is not None:
        resp = post(service, encode(case.withdrawal, case.withdrawal_ascii), tally)
        if resp.status_code == 202:
            tally.withdrawals_accepted += 1
            stored = applied(service, case.withdrawal["event_id"])
            render_and_check(service, stored, tally)
            state = ArticleStore.of(service.ctx).get(stored["article"]["id"])
            if state.withdrawn:
                tally.live.discard(stored["article"]["id"])


def check_feeds(service) -> None:
    """Every feed rendered in-process from the final state, and the served `all` feed, hold to the rules."""
    ctx = service.ctx
    for spec in ctx.settings.feeds:
        articles = live_articles(ctx, spec.name, spec.max_items)
        # render_every_format raises on a bad item, where render_all would leave it out and go on.
        out = render_every_format(spec, articles, ctx.settings.base_url, ctx.settings.websub_hub)
        for fmt in RENDERERS:
            check_output(fmt, out[fmt], f"feed {spec.name}.{fmt}")
    expected = render_all(ctx, "all")

    def served(fmt: str) -> bytes | None:
        resp = requests.get(f"{service.api_url}/feeds/all.{fmt}", timeout=10)
        assert resp.status_code < 500, resp.text
        return resp.content if resp.status_code == 200 and resp.content == expected[fmt] else None

    for fmt in RENDERERS:
        body = wait_for(lambda: served(fmt), timeout=30, interval=0.2, what=f"/feeds/all.{fmt} with the final state")
        check_output(fmt, body, f"served /feeds/all.{fmt}")


def withdraw_leftovers(service, tally: Tally) -> None:
    """Withdraw what is still live: future-dated stories must not crowd other tests out of the `all` feed."""
    ctx = service.ctx
    for n, article_id in enumerate(sorted(tally.live)):
        state = ArticleStore.of(ctx).get(article_id)
        if state is None or state.withdrawn:
            continue
        event_id = f"{PREFIX}-cleanup-{n}-{int(time.time() * 1000)}"
        if state.version < 2**53:
            body = json.dumps({"event_id": event_id, "type": "article.withdrawn", "occurred_at": "2026-01-01T00:00:00Z",
                               "article": {"id": article_id, "version": state.version + 1,
                                           "reason": "property test cleanup"}})
            resp = requests.post(f"{service.api_url}/v1/events", headers=service.headers(), data=body, timeout=30)
            assert resp.status_code == 202, resp.text
            applied(service, event_id)
        else:  # 2**53, the highest version an event may carry: withdraw in place; the sweeper re-renders
            ArticleStore.of(ctx).apply(article_id, state.version + 1, None, withdrawn=True, event_id=event_id,
                               now=time.time(), reason="property test cleanup")
            index.mark_dirty(ctx, index.place(ctx, ArticleStore.of(ctx).get(article_id)))


def test_hostile_events_never_fail_a_render_or_leak_markup(service):
    tally = Tally()
    started = time.monotonic()

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much, HealthCheck.large_base_example])
    @given(case=cases())
    def property_holds(case: Case) -> None:
        run_case(service, case, tally)

    try:
        property_holds()
        check_feeds(service)
    finally:
        withdraw_leftovers(service, tally)
        print(f"\nproperty_hostile: {tally.examples} examples, {tally.posted} events posted, "
              f"{tally.accepted} accepted ({tally.withdrawals_accepted} withdrawals), {tally.rejected} rejected, "
              f"statuses {tally.statuses}, {tally.renders} renders checked, {time.monotonic() - started:.1f}s")
    assert tally.accepted >= 20 and tally.rejected >= 20, "the strategies no longer reach both outcomes"
