"""The news sitemap's pure rules: the window, the order, the protocol's limits, valid XML."""

from __future__ import annotations

from lxml import etree

from syndication.feeds import sitemap
from syndication.feeds.spec import FeedSpec

NOW = 1_800_000_000.0
SPEC = FeedSpec(name="news", language="kk-Cyrl-KZ", news_sitemap={"publication": "Example"})


def article(i: int, age: float, **kw) -> dict:
    from datetime import datetime, timezone

    published = datetime.fromtimestamp(NOW - age, tz=timezone.utc).isoformat()
    return {"id": f"a{i}", "url": f"https://news.example/{i}", "headline": f"H{i}", "published_at": published, **kw}


def test_the_window_is_two_days_and_future_stories_wait():
    picked = sitemap.select([(article(1, 3600), SPEC), (article(2, 2 * 86400 + 1), SPEC),
                             (article(3, 2 * 86400), SPEC), (article(4, -60), SPEC)], NOW)
    assert [e.article_id for e in picked] == ["a1", "a3"]


def test_newest_first_each_article_once_first_feed_names_it():
    other = FeedSpec(name="other", news_sitemap={"publication": "Other", "language": "ru"})
    picked = sitemap.select([(article(1, 600), SPEC), (article(2, 60), SPEC), (article(1, 600), other)], NOW)
    assert [(e.article_id, e.publication, e.language) for e in picked] == [("a2", "Example", "kk"),
                                                                          ("a1", "Example", "kk")]


def test_at_most_50000_urls_in_all():
    many = [(article(i, 60 + i * 0.001), SPEC) for i in range(sitemap.MAX_URLS + 10)]
    picked = sitemap.select(many, NOW)
    assert len(picked) == sitemap.MAX_URLS and picked[-1].article_id == f"a{sitemap.MAX_URLS - 1}"
    assert [len(p) for p in sitemap.paginate(picked)] == [1000] * 50


def test_a_page_over_the_byte_limit_is_split():
    entries = sitemap.select([(article(i, 60 + i), SPEC) for i in range(10)], NOW)
    limit = len(sitemap.urlset(entries[:3])) + 10
    pages = sitemap.paginate(entries, max_bytes=limit)
    assert [e for p in pages for e in p] == entries
    assert all(len(sitemap.urlset(p)) <= limit for p in pages) and len(pages) > 3


def test_the_largest_possible_file_is_under_50_mb():
    # Every field at the event schema's limit, in characters that take the most bytes.
    worst = article(0, 60, url="https://news.example/" + "ж" * 2020, headline="&" * 1000)
    spec = FeedSpec(name="w", news_sitemap={"publication": "<" * 200})
    entry = sitemap.select([(worst, spec)], NOW)[0]
    assert len(sitemap.urlset([entry] * sitemap.MAX_NEWS_URLS)) < sitemap.MAX_BYTES


def test_xml_is_strict_and_escapes_everything():
    entry = sitemap.select([(article(1, 60, headline='<b>"A" & ]]></b>'), SPEC)], NOW)[0]
    root = etree.fromstring(sitemap.urlset([entry]))
    ns = {"s": sitemap.SITEMAP_NS, "n": sitemap.NEWS_NS}
    assert root.xpath("//n:title/text()", namespaces=ns) == ['<b>"A" & ]]></b>']
    assert root.xpath("//n:language/text()", namespaces=ns) == ["kk"]  # the primary subtag
    index = etree.fromstring(sitemap.index([("https://x.example/s.xml?page=1&a=b", "2026-12-07T10:00:00+00:00")]))
    assert index.xpath("//s:loc/text()", namespaces=ns) == ["https://x.example/s.xml?page=1&a=b"]
