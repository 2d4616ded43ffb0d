"""The Google News sitemap on real processes (API, workers, Redis): its rules, one test each.

- only articles first published in the last two days: older and future ones are left out, also
  when updated now;
- `news:publication_date` is the original publication time, unchanged by an update (whose new
  headline the title does show);
- withdrawn and embargoed articles never appear (a sentinel posted after them is listed);
- hostile headlines are escaped: the XML parses strictly and the title reads as sent (cleaned);
- at most 1,000 `<url>` per file: beyond, the sitemap is an index of `?page=N` files;
- conditional GET: ETag / If-None-Match and Last-Modified / If-Modified-Since give 304 until the
  sitemap changes;
- one sitemap per feed (here: per language), with the publication name and language configured.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from lxml import etree

from tests.support.events import article_event, withdrawal

pytestmark = pytest.mark.integration
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def fetch(url: str) -> etree._Element:
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/xml")
    return etree.fromstring(resp.content)  # strict: a stray `<` or `&` would raise


def listed(base: str, path: str = "/sitemaps/news.xml") -> dict[str, dict]:
    """Every `<url>` of a sitemap, following its index if it is one: loc -> its news fields."""
    root = fetch(base + path)
    roots = [fetch(loc.text) for loc in root.iter(f"{SM}loc")] if root.tag == f"{SM}sitemapindex" else [root]
    out = {}
    for r in roots:
        assert r.tag == f"{SM}urlset"
        for url in r.iter(f"{SM}url"):
            out[url.findtext(f"{SM}loc")] = {
                "name": url.findtext(f"{NEWS}news/{NEWS}publication/{NEWS}name"),
                "language": url.findtext(f"{NEWS}news/{NEWS}publication/{NEWS}language"),
                "date": url.findtext(f"{NEWS}news/{NEWS}publication_date"),
                "title": url.findtext(f"{NEWS}news/{NEWS}title"),
            }
    return out


def loc(article_id: str) -> str:
    return f"https://news.example/en/{article_id}"


def tag() -> str:
    return uuid.uuid4().hex[:8]


def test_only_articles_first_published_in_the_last_two_days(newsroom):
    t, n = tag(), now()
    old, edge, fresh, future = (f"{t}-old", f"{t}-edge", f"{t}-fresh", f"{t}-future")
    newsroom.post(article_event(old, published_at=n - timedelta(days=3)),
                  article_event(edge, published_at=n - timedelta(hours=47)),
                  article_event(fresh, published_at=n - timedelta(minutes=5)),
                  article_event(future, published_at=n + timedelta(hours=1)),
                  # Updated now, first published three days ago: still too old.
                  article_event(old, 2, published_at=n - timedelta(days=3), updated_at=n.isoformat()))
    for aid, version in ((old, 2), (edge, 1), (fresh, 1), (future, 1)):
        newsroom.applied(aid, version)
    mine = {k for k in listed(newsroom.url) if f"/{t}-" in k}
    assert mine == {loc(edge), loc(fresh)}


def test_publication_date_is_the_original_publication_not_the_update(newsroom):
    aid, first = f"{tag()}-upd", now() - timedelta(hours=2)
    newsroom.post(article_event(aid, published_at=first))
    newsroom.applied(aid, 1)
    newsroom.post(article_event(aid, 2, published_at=first, updated_at=now().isoformat(), headline="Corrected"))
    newsroom.applied(aid, 2)
    entry = listed(newsroom.url)[loc(aid)]
    assert entry["title"] == "Corrected"  # the update is what is listed ...
    assert datetime.fromisoformat(entry["date"]) == first  # ... under its first publication time


def test_withdrawn_and_embargoed_articles_never_appear(newsroom):
    t = tag()
    gone, held, held_update, sentinel = f"{t}-gone", f"{t}-held", f"{t}-heldupd", f"{t}-sentinel"
    newsroom.post(article_event(gone, published_at=now() - timedelta(minutes=10)), article_event(held_update))
    newsroom.applied(gone, 1)
    newsroom.applied(held_update, 1)
    before = listed(newsroom.url)
    assert loc(gone) in before and loc(held_update) in before  # listed while published: the absence below means something
    # Nothing else changes meanwhile: the sitemap must see the withdrawal itself, not a new article.
    newsroom.post(withdrawal(gone, 2))
    newsroom.applied(gone, 2)
    assert loc(gone) not in listed(newsroom.url)
    later = (now() + timedelta(hours=1)).isoformat()
    newsroom.post(article_event(held, embargoed=later), article_event(held_update, 2, embargoed=later),
                  article_event(sentinel))
    for aid, version in ((held, 1), (held_update, 2), (sentinel, 1)):
        newsroom.applied(aid, version)
    for path in ("/sitemaps/news.xml", "/sitemaps/news/news-en.xml"):
        urls = listed(newsroom.url, path)
        assert loc(sentinel) in urls
        assert not {loc(gone), loc(held), loc(held_update)} & set(urls)


def test_hostile_headlines_are_escaped_and_the_xml_parses(newsroom):
    aid = f"{tag()}-hostile"
    headline = 'Tom & Jerry <script>alert("x")</script> ]]> &amp;lt;b&gt; \x0b\ufffe «ёлка» 🎄 \' "'
    newsroom.post(article_event(aid, headline=headline))
    newsroom.applied(aid, 1)
    stored = newsroom.articles.get(aid).released_data["headline"]
    title = listed(newsroom.url)[loc(aid)]["title"]
    assert title == stored and "<script" not in title and "Tom & Jerry" in title and "🎄" in title
    raw = requests.get(f"{newsroom.url}/sitemaps/news.xml", timeout=10).content
    assert b"<script" not in raw and b"\x0b" not in raw


def test_one_sitemap_per_language_with_its_publication(newsroom):
    t = tag()
    en, kk = f"{t}-en", f"{t}-kk"
    newsroom.post(article_event(en), article_event(kk, language="kk", url=loc(kk)))
    newsroom.applied(en, 1)
    newsroom.applied(kk, 1)
    english, kazakh = listed(newsroom.url, "/sitemaps/news/news-en.xml"), listed(newsroom.url, "/sitemaps/news/news-kk.xml")
    assert loc(en) in english and loc(en) not in kazakh
    assert kazakh[loc(kk)] | {"title": None, "date": None} == {
        "name": "Example Jañalyqtar", "language": "kk", "title": None, "date": None}
    assert english[loc(en)]["name"] == "Example News" and english[loc(en)]["language"] == "en"
    both = listed(newsroom.url)
    assert both[loc(kk)]["name"] == "Example Jañalyqtar" and both[loc(en)]["name"] == "Example News"
    unconfigured = requests.get(f"{newsroom.url}/sitemaps/news/politics.xml", timeout=5)  # a feed without one
    assert unconfigured.status_code == 404 and unconfigured.json()["error"] == "not_found"
    assert "news_sitemap" in unconfigured.json()["detail"]
    assert requests.get(f"{newsroom.url}/sitemaps/news.xml?page=0", timeout=5).status_code == 422


def test_conditional_get(newsroom):
    url = f"{newsroom.url}/sitemaps/news/news-en.xml"
    first = requests.get(url, timeout=10)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=10).status_code == 304
    assert requests.get(url, headers={"If-Modified-Since": modified}, timeout=10).status_code == 304
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(first.content)
    time.sleep(1.1)  # Last-Modified has one-second resolution: the change below must be a later second
    aid = f"{tag()}-cond"
    newsroom.post(article_event(aid))
    newsroom.applied(aid, 1)
    changed = requests.get(url, headers={"If-None-Match": etag}, timeout=10)
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert loc(aid).encode() in changed.content
    assert requests.get(url, headers={"If-Modified-Since": modified}, timeout=10).status_code == 200


def test_beyond_1000_articles_the_sitemap_is_an_index_of_pages(newsroom):
    t, base = tag(), now() - timedelta(hours=1)
    ids = [f"{t}-bulk-{i:04d}" for i in range(1005)]
    newsroom.post(*[article_event(aid, published_at=base + timedelta(seconds=i), categories=["Bulk"])
                    for i, aid in enumerate(ids)])
    wait_all = time.monotonic() + 120
    while any(s is None for s in newsroom.articles.get_many(ids)):
        assert time.monotonic() < wait_all, "1,005 articles not applied within 120 s"
        time.sleep(0.2)
    root = fetch(f"{newsroom.url}/sitemaps/news/bulk.xml")
    assert root.tag == f"{SM}sitemapindex"
    pages = [loc_el.text for loc_el in root.iter(f"{SM}loc")]
    assert pages == [f"{newsroom.url}/sitemaps/news/bulk.xml?page=1", f"{newsroom.url}/sitemaps/news/bulk.xml?page=2"]
    counts = [len(list(fetch(p).iter(f"{SM}url"))) for p in pages]
    assert counts == [1000, 5]
    newest_first = [u.findtext(f"{SM}loc") for u in fetch(pages[0]).iter(f"{SM}url")]
    assert newest_first[0] == loc(ids[-1])  # page 1 holds the newest
    assert set(listed(newsroom.url, "/sitemaps/news/bulk.xml")) == {loc(a) for a in ids}
    assert requests.get(f"{newsroom.url}/sitemaps/news/bulk.xml?page=3", timeout=5).status_code == 404
