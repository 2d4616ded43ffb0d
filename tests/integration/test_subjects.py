"""IPTC Media Topic subjects end to end, on real processes (API, workers, Redis, a partner server).

An event with `medtop:` subjects reaches the ninjs push (subjects with the topic URI, valid against
the IPTC schema) and the feeds (Atom category in the IPTC scheme, RSS category domain, JSON Feed
tags); a partner and a feed filtered on a top-level topic (politics, medtop:11000000) get an
article tagged with a topic below it and not one tagged outside it; a bad qcode is a 422 naming
the field.
"""

from __future__ import annotations

import json
import uuid

import feedparser
import pytest
import requests
from lxml import etree

from tests.support.events import article_event
from tests.support.processes import wait_for
from tests.unit.test_formats import VALIDATORS

pytestmark = pytest.mark.integration
SCHEME = "http://cv.iptc.org/newscodes/mediatopic/"
POLITICS = "medtop:11000000"
BELOW_POLITICS = "medtop:20000581"  # campaign finance < political campaigns < election < politics
ANIMATION = "medtop:20000003"  # arts, culture, entertainment and media > arts and entertainment > animation


def feed_ids(base: str) -> list[str]:
    return [item["id"] for item in requests.get(f"{base}/feeds/politics.json", timeout=10).json()["items"]]


def test_topics_reach_the_push_and_the_feeds_and_select_below_a_top_level_topic(newsroom):
    t = uuid.uuid4().hex[:8]
    inside, outside = f"{t}-inside", f"{t}-outside"
    newsroom.post(article_event(inside, subjects=[{"qcode": BELOW_POLITICS, "name": "Wahl"}]),
                  article_event(outside, subjects=[{"qcode": ANIMATION}]),
                  article_event(f"{t}-sentinel", subjects=[{"qcode": POLITICS}]))
    # The partner filtered on politics: the sentinel (posted last, tagged politics itself) and the
    # article tagged below politics arrive; the one outside does not.
    wait_for(lambda: newsroom.partner.for_article(f"{t}-sentinel") and newsroom.partner.for_article(inside),
             timeout=20, what="pushes to the politics desk")
    assert newsroom.partner.for_article(outside) == []
    doc = json.loads(newsroom.partner.for_article(inside)[0].body)
    assert not list(VALIDATORS["ninjs"].iter_errors(doc))
    assert {"uri": SCHEME + "20000581", "name": "Wahl"} in doc["subjects"]

    wait_for(lambda: any(i.endswith(f":{t}-sentinel") for i in feed_ids(newsroom.url)), timeout=20,
             what="the politics feed rendered with the sentinel")
    ids = feed_ids(newsroom.url)
    assert any(i.endswith(f":{inside}") for i in ids) and not any(i.endswith(f":{outside}") for i in ids)

    atom = requests.get(f"{newsroom.url}/feeds/politics.atom", timeout=10).content
    parsed = feedparser.parse(atom)
    assert parsed.bozo == 0
    entry = next(e for e in parsed.entries if e.id.endswith(f":{inside}"))
    assert ("20000581", SCHEME, "Wahl") in [(c.term, c.scheme, c.label) for c in entry.tags]
    rss = etree.fromstring(requests.get(f"{newsroom.url}/feeds/politics.rss", timeout=10).content)
    item = next(i for i in rss.iter("item") if i.findtext("guid").endswith(f":{inside}"))
    assert [c.text for c in item.findall("category") if c.get("domain") == SCHEME] == ["20000581"]
    item = next(i for i in requests.get(f"{newsroom.url}/feeds/politics.json", timeout=10).json()["items"]
                if i["id"].endswith(f":{inside}"))
    assert "Wahl" in item["tags"]
    assert item["_media_topics"]["topics"] == [{"qcode": BELOW_POLITICS, "uri": SCHEME + "20000581", "name": "Wahl"}]

    stored = requests.get(f"{newsroom.url}/v1/articles/{inside}", headers=newsroom.headers, timeout=10).json()
    assert stored["article"]["subjects"] == [{"qcode": BELOW_POLITICS, "name": "Wahl"}]


def test_a_bad_qcode_is_a_422_naming_the_field(newsroom):
    ev = article_event(f"{uuid.uuid4().hex[:8]}-bad", subjects=[{"qcode": POLITICS}, {"qcode": "politics"}])
    resp = requests.post(f"{newsroom.url}/v1/events", json=ev, headers=newsroom.headers, timeout=10)
    assert resp.status_code == 422
    assert [p["field"] for p in resp.json()["problems"]] == ["article.subjects.1.qcode"]
