"""IPTC Media Topics in every output that has a place for them, each valid by its own standard.

ninjs 2.2/3.1 `subjects` (uri + name, checked against the IPTC schemas), Atom `category` with the
IPTC scheme (pushes and feeds), RSS `category domain=` (pushes and feeds), JSON Feed tags plus the
`_media_topics` extension.
"""

from __future__ import annotations

import json

import feedparser
import pytest
from lxml import etree

from syndication.feeds.render import RENDERERS
from syndication.feeds.spec import FeedSpec
from syndication.partners.formats import PUSH_FORMATS, Push
from tests.unit.test_formats import BASE, VALIDATORS, stored

SCHEME = "http://cv.iptc.org/newscodes/mediatopic/"
ATOM = "{http://www.w3.org/2005/Atom}"
TOPICS = [{"qcode": "medtop:20000003", "name": "Анимация & <b>мульт</b>"}, {"qcode": "medtop:11000000"}]
ARTICLE = stored(subjects=TOPICS)
PUSH = Push("d1", "e1", "article.published", ARTICLE["id"], 1, ARTICLE, False)
SPEC = FeedSpec(name="all", title="All")


def test_stored_article_names_the_unnamed_topic():
    assert ARTICLE["subjects"] == [{"qcode": "medtop:20000003", "name": "Анимация & мульт"},
                                   {"qcode": "medtop:11000000", "name": "politics"}]


@pytest.mark.parametrize("fmt", ["ninjs", "ninjs3"])
def test_ninjs_subjects_carry_the_topic_uri_and_name_and_stay_schema_valid(fmt):
    doc = json.loads(PUSH_FORMATS[fmt].render(PUSH, base_url=BASE))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATORS[fmt].iter_errors(doc)]
    assert not errors, errors
    assert doc["subjects"][-2:] == [
        {"uri": SCHEME + "20000003", "name": "Анимация & мульт"},
        {"uri": SCHEME + "11000000", "name": "politics"},
    ]
    assert doc["subjects"][:3] == [{"name": c} for c in ARTICLE["categories"]]  # free text stays


def _atom_topics(root) -> list[tuple]:
    return [(c.get("term"), c.get("label")) for c in root.iter(f"{ATOM}category") if c.get("scheme") == SCHEME]


def test_atom_push_and_feed_carry_topics_in_the_iptc_scheme():
    pushed = etree.fromstring(PUSH_FORMATS["atom"].render(PUSH, base_url=BASE))
    feed = etree.fromstring(RENDERERS["atom"](SPEC, [ARTICLE], BASE))
    want = [("20000003", "Анимация & мульт"), ("11000000", "politics")]
    assert _atom_topics(pushed) == _atom_topics(feed) == want
    parsed = feedparser.parse(RENDERERS["atom"](SPEC, [ARTICLE], BASE))
    assert parsed.bozo == 0
    assert ("20000003", SCHEME) in [(t.term, t.scheme) for t in parsed.entries[0].tags]


def test_rss_push_and_feed_carry_topics_with_the_iptc_domain():
    for body in (PUSH_FORMATS["rss"].render(PUSH, base_url=BASE), RENDERERS["rss"](SPEC, [ARTICLE], BASE)):
        item = etree.fromstring(body).find("channel/item")
        assert [c.text for c in item.findall("category") if c.get("domain") == SCHEME] == ["20000003", "11000000"]
        assert [c.text for c in item.findall("category") if c.get("domain") is None] == ARTICLE["categories"]
        assert feedparser.parse(body).bozo == 0


def test_json_feed_tags_and_extension():
    item = json.loads(RENDERERS["json"](SPEC, [ARTICLE], BASE))["items"][0]
    assert item["tags"] == [*ARTICLE["categories"], "Анимация & мульт", "politics"]
    assert item["_media_topics"]["topics"][1] == {"qcode": "medtop:11000000", "uri": SCHEME + "11000000",
                                                  "name": "politics"}


def test_an_article_without_topics_renders_as_before():
    plain = stored()
    assert plain["subjects"] == []
    assert "_media_topics" not in json.loads(RENDERERS["json"](SPEC, [plain], BASE))["items"][0]
    assert SCHEME.encode() not in RENDERERS["atom"](SPEC, [plain], BASE)
