"""A burst of sitemap requests after a change, on real processes: one rebuild, and every request
gets the new sitemap (feeds/sitemap_store.py: the build lock).

The newsroom's API (tests/support/newsroom.py) answers N simultaneous requests for
/sitemaps/news/news-kk.xml (a feed no other test fills past one file) right after an article was
applied: `syndication_sitemap_builds_total` for that sitemap moves by exactly one, and each answer is a 200 whose XML parses strictly and
lists the new article (none is the previous file, none a 5xx).
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from lxml import etree

from syndication.infra import metrics
from tests.support.events import article_event

pytestmark = pytest.mark.integration
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
N = 16
LOAD = 300


def builds(newsroom, sitemap: str = "news/news-kk") -> float:
    ctx = newsroom.ctx
    return float(ctx.redis.hget(ctx.keys.metric("sitemap_builds"), metrics.series(sitemap=sitemap)) or 0)


def test_a_burst_after_a_change_rebuilds_the_sitemap_once_and_every_request_gets_the_new_one(newsroom):
    url = f"{newsroom.url}/sitemaps/news/news-kk.xml"
    # Enough articles that a build takes a while: without the lock, requests overlap in it.
    t = uuid.uuid4().hex[:8]
    newsroom.post(*[article_event(f"{t}-load-{i:03d}", language="kk") for i in range(LOAD)])
    for i in range(LOAD):  # every one: one applied during the burst would be a second change
        newsroom.applied(f"{t}-load-{i:03d}", 1)
    assert requests.get(url, timeout=10).status_code == 200  # current before the change
    aid = f"{t}-burst"
    newsroom.post(article_event(aid, language="kk"))
    newsroom.applied(aid, 1)
    before = builds(newsroom)
    start = threading.Barrier(N)

    def get(_):
        start.wait(timeout=10)  # all at once, not one after another
        return requests.get(url, timeout=30)

    with ThreadPoolExecutor(N) as pool:
        answers = list(pool.map(get, range(N)))
    for resp in answers:
        assert resp.status_code == 200, resp.text
        root = etree.fromstring(resp.content)  # strict: a half-written file would not parse
        assert f"https://news.example/en/{aid}" in [loc.text for loc in root.iter(f"{SM}loc")]
    assert len({resp.headers["etag"] for resp in answers}) == 1
    assert builds(newsroom) - before == 1
