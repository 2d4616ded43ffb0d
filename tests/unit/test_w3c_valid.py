"""Whatever the API accepts renders to RSS and Atom the W3C feed validator passes (issue 22 item 5).

A Hypothesis property over article data: every event the API's own validation accepts,
stored as the service stores it (validated, dumped, cleaned), renders to feeds (RSS, Atom)
and XML pushes (Atom entry, RSS; published and withdrawn) with zero validator errors. The
withdrawal in Atom is an RFC 6721 tombstone, which the validator does not know: its `ref`
must be the entry's id. The same check on real processes: integration/test_w3c_valid_served.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, assume, given, settings, strategies as st
from lxml import etree

from syndication.events import ID_PATTERN, InvalidEvent, parse_event
from syndication.feeds.render import CONTENT_TYPES, RENDERERS
from syndication.feeds.spec import FeedSpec
from syndication.partners.formats import PUSH_FORMATS, Push
from syndication.text import clean_article
from tests.support.w3c import validate

BASE = "http://127.0.0.1:8000"
SPEC = FeedSpec(name="all", title="All news", description="Everything", language="en")
ATOM = "{http://www.w3.org/2005/Atom}"
NOW = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)

HOSTS = ["news.example", "NEWS.EXAMPLE.", "пример.kz", "user:pa%41ss@news.example", "[::1]:8443", "127.0.0.1",
         "a'onload=alert(1)", "xn--80ak6aa92e.example:8080"]
# Anything but what the API refuses outright (spaces, controls, quotes, angle brackets, backslashes).
url_text = st.text(st.characters(codec="utf-8", exclude_characters='\\<>"', exclude_categories=("Cc", "Zs")),
                   max_size=20)
urls = st.builds(lambda scheme, host, path, tail: f"{scheme}://{host}/{path}{tail}",
                 st.sampled_from(["https", "http"]), st.sampled_from(HOSTS), url_text,
                 st.sampled_from(["", "?a=1&b=2", "#f", "?q={x}|y#f#g", "%zz", "[1]"]))
text = st.text(st.characters(codec="utf-8"), max_size=40)
markup = st.sampled_from(["", "<p>ok</p>", '<p onclick="x()">a</p><script>alert(1)</script>',
                          '<a href="javascript:alert(1)">x</a><img src="https://news.example/i.jpg">',
                          "<p>]]&gt; &amp;lt;b&amp;gt; \u2028</p>", "<table><tr><td>x</td></tr></table>"])
images = st.lists(st.fixed_dictionaries(
    {"url": urls},
    optional={"caption": text, "mime_type": st.sampled_from(["image/png", "image/svg+xml", "image/x.y-z"]),
              "length": st.integers(0, 2**40), "width": st.integers(1, 4000)}), max_size=2)
articles = st.fixed_dictionaries({
    "id": st.from_regex(ID_PATTERN, fullmatch=True), "url": urls, "headline": text.filter(str.strip),
    "summary": text, "body_html": markup, "authors": st.lists(text.filter(str.strip), max_size=2),
    "categories": st.lists(text.filter(str.strip), max_size=2), "source": st.one_of(st.none(), text),
    "language": st.sampled_from(["en", "kk", "ru", "zh-Hant-TW"]), "images": images,
    "embargoed": st.sampled_from([None, (NOW - timedelta(hours=1)).isoformat()]),
})


def stored(article: dict) -> dict:
    """As the service stores it, or `assume` away what the API would answer 422."""
    article = {**article, "version": 1, "published_at": NOW.isoformat(), "updated_at": NOW.isoformat()}
    try:
        event = parse_event({"event_id": "e1", "type": "article.published", "occurred_at": NOW.isoformat(),
                             "article": article})
    except InvalidEvent:
        assume(False)
    return clean_article(json.loads(event.model_dump_json())["article"])


def errors(body: bytes, content_type: str, expected: str) -> list[str]:
    report = validate(body, content_type=content_type)
    return report.errors + ([] if report.feed_type == expected else [f"validated as {report.feed_type}"])


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.lists(articles, min_size=1, max_size=3, unique_by=lambda a: a["id"]))  # a feed holds an id once
def test_every_accepted_article_renders_valid_feeds_and_pushes(drawn):
    data = [stored(a) for a in drawn]
    for fmt in ("rss", "atom"):
        body = RENDERERS[fmt](SPEC, data, BASE, hub="https://hub.example/")
        assert errors(body, CONTENT_TYPES[fmt], fmt) == [], body
    for a in data:
        for withdrawn in (False, True):
            push = Push("d1", "e1", "article.withdrawn" if withdrawn else "article.published", a["id"],
                        2 if withdrawn else 1, a, withdrawn, "reason \x0b <b>x</b>")
            atom = PUSH_FORMATS["atom"].render(push, base_url=BASE)
            rss = PUSH_FORMATS["rss"].render(push, base_url=BASE)
            assert errors(rss, PUSH_FORMATS["rss"].media_type, "rss") == [], rss
            if withdrawn:  # RFC 6721: no grammar in the validator; the ref is the entry's id
                ref = etree.fromstring(atom).get("ref")
                entry = PUSH_FORMATS["atom"].render(Push("d0", "e0", "article.published", a["id"], 1, a, False),
                                                    base_url=BASE)
                assert ref == etree.fromstring(entry).findtext(f"{ATOM}id")
            else:
                assert errors(atom, PUSH_FORMATS["atom"].media_type, "atom entry") == [], atom
