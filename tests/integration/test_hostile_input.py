"""Hostile input, one test per class of attack that once broke the service (issue 10).

Each was reproduced on the commit before its fix (b71e266) and fails there:
poison dates, stored XSS through plain-text fields, ids that collide with
other key families, 500s from input, duplicate guids.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime

import feedparser
import pytest
import requests
from lxml import etree

from syndication.articles import ArticleStore
from syndication.identity import article_uri
from syndication.feeds import index
from tests.conftest import OPS_KEY
from tests.support.events import article_event, withdrawal
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


def post(service, event, headers=None):
    return requests.post(f"{service.api_url}/v1/events", data=json.dumps(event, ensure_ascii=False).encode(),
                         headers=headers or service.headers(), timeout=10)


def posted(service, event):
    resp = post(service, event)
    assert resp.status_code == 202, resp.text
    return event


def feed(service, fmt: str) -> requests.Response:
    resp = requests.get(f"{service.api_url}/feeds/all.{fmt}", timeout=10)
    assert resp.status_code == 200, resp.text
    return resp


def in_every_format(service, article_id: str, by_url: bool = True) -> bool:
    """The article is in feed `all` in every format (found by its id, or by its test URL)."""
    needles = [article_uri(article_id, service.env["SYNDICATION_BASE_URL"]).encode()]
    needles += [f"/en/{article_id}".encode()] if by_url else []
    for fmt in ("rss", "atom", "json"):
        resp = requests.get(f"{service.api_url}/feeds/all.{fmt}", timeout=10)
        if resp.status_code == 503:  # not rendered yet (a fresh test session)
            return False
        assert resp.status_code == 200, resp.text
        if not any(n in resp.content for n in needles):
            return False
    return True


def problems(resp) -> dict[str, str]:
    assert resp.status_code == 422, resp.text
    return {p["field"]: p["message"] for p in resp.json()["problems"]}


# --- 1. poison dates -------------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("article.published_at", "9999-12-31T23:59:59-00:01"),
    ("article.published_at", "9999-12-31T10:00:00-14:00"),
    ("article.updated_at", "9999-12-31T23:59:59Z"),
    ("occurred_at", "9999-12-31T23:59:59-00:01"),
    ("article.published_at", "1850-01-01T00:00:00Z"),
    ("article.published_at", 1764000000),
    ("article.published_at", "2026-11-21"),
])
def test_dates_are_bounded_rfc3339_strings(service, unique, field, value):
    ev = article_event(f"date-{unique}")
    target = ev["article"] if field.startswith("article.") else ev
    target[field.split(".")[-1]] = value
    assert field in problems(post(service, ev))


def test_withdrawal_with_a_poison_date_is_refused(service, unique):
    ev = withdrawal(f"wd-{unique}", 2)
    ev["occurred_at"] = "9999-12-31T23:59:59-00:01"
    assert "occurred_at" in problems(post(service, ev))


def test_an_unrenderable_stored_item_never_stops_its_feed(service, unique):
    """Data stored before dates were bounded: the feed renders without it, and goes on."""
    ctx = service.ctx
    bad_id = f"poison-{unique}"
    data = {**article_event(bad_id)["article"], "published_at": "9999-12-31T23:59:59-00:01",
            "updated_at": "9999-12-31T23:59:59-00:01"}
    ArticleStore.of(ctx).apply(bad_id, 1, data, withdrawn=False, event_id=f"evt-{bad_id}", now=time.time())
    index.place(ctx, ArticleStore.of(ctx).get(bad_id))  # pins changed_at past year 9999, as it once did
    ctx.redis.zadd(ctx.keys.feeds_dirty, {"all": time.time()})
    good = posted(service, article_event(f"after-poison-{unique}"))["article"]["id"]
    wait_for(lambda: in_every_format(service, good), timeout=20, what="a new article despite the poison item")
    assert f"/en/{bad_id}".encode() not in feed(service, "rss").content
    for fmt in ("rss", "atom", "json"):
        last_modified = parsedate_to_datetime(feed(service, fmt).headers["Last-Modified"])
        assert last_modified.timestamp() <= time.time() + 1, "Last-Modified must never lie in the future"
    metrics = requests.get(f"{service.api_url}/metrics", timeout=10).text
    assert 'syndication_feed_items_skipped_total{feed="all"}' in metrics
    ArticleStore.of(ctx).apply(bad_id, 2, None, withdrawn=True, event_id=f"evt-{bad_id}-w", now=time.time())
    index.place(ctx, ArticleStore.of(ctx).get(bad_id))


# --- 2. stored XSS through plain-text fields ------------------------------------------------

HOSTILE = {
    "headline": "Tom <script>alert(1)</script> &lt;img src=x onerror=alert(1)&gt; wins",
    "summary": "Tom &lt;img src=x onerror=alert(1)&gt; and &amp;lt;script&amp;gt;alert(2)&amp;lt;/script&amp;gt;",
    "body_html": ("<p>ok</p><blockquote cite=\"javascript:alert(3)\">q</blockquote><p>&lt;script&gt;"
                  "alert(4)&lt;/script&gt;</p><a href=\"javascript:alert(5)\">x</a>"),
    "authors": ["<img src=x onerror=alert(6)>Ann"],
    "categories": ["<svg onload=alert(7)>Economy"],
    "section": "<b onmouseover=alert(8)>Sec</b>",
    "images": [{"url": "https://news.example/x.jpg", "caption": "&lt;img src=x onerror=alert(9)&gt;cap"}],
}
LIVE_MARKUP = ("<script", "<img", "<svg", "onerror", "onload", "onmouseover", "javascript:")


def _decoded_texts(xml: bytes) -> list[str]:
    """Every text and attribute value as a reader sees it after XML decoding."""
    root = etree.fromstring(xml)
    out = [t for t in root.itertext()]
    out += [v for el in root.iter() for v in el.attrib.values()]
    return out


def _live_markup(text: str) -> list[str]:
    low = text.lower()
    return [m for m in LIVE_MARKUP if m in low]


def test_plain_text_fields_carry_no_markup_to_any_feed(service, unique):
    aid = f"xss-{unique}"
    posted(service, article_event(aid, **HOSTILE))
    wait_for(lambda: in_every_format(service, aid), timeout=20, what="hostile article in feeds")
    for fmt in ("rss", "atom"):
        needle = f"/en/{aid}"
        root = etree.fromstring(feed(service, fmt).content)
        entry = next(e for e in root.iter("item", "{http://www.w3.org/2005/Atom}entry")
                     if needle in etree.tostring(e, encoding="unicode"))
        for text in _decoded_texts(etree.tostring(entry)):
            # RSS description and content are HTML to readers: decoded once more, they must still be clean.
            assert not _live_markup(text), (fmt, text)
        assert feedparser.parse(feed(service, fmt).content).bozo == 0
    item = next(i for i in feed(service, "json").json()["items"] if i["url"].endswith(f"/en/{aid}"))
    for key, value in item.items():
        assert not _live_markup(json.dumps(value, ensure_ascii=False)), (key, value)
    state = requests.get(f"{service.api_url}/v1/articles/{aid}", timeout=10).json()["article"]
    assert state["headline"].startswith("Tom") and "wins" in state["headline"]
    assert not _live_markup(json.dumps(state, ensure_ascii=False))


# --- 3. ids that reach another key family ----------------------------------------------------

def test_an_id_cannot_collide_with_another_key_family(service, unique):
    base = f"kc-{unique}"
    posted(service, article_event(f"{base}:deliveries"))  # once the same key as base's delivery set
    posted(service, article_event(base))
    a = service.partners["partner-a"]
    wait_for(lambda: [r for r in a.for_article(base) if json.loads(r.body)["article"]["id"] == base],
             timeout=20, what="the article pushed despite the colliding id")
    ops = {"Authorization": f"Bearer {OPS_KEY}"}
    for aid in (base, f"{base}:deliveries"):
        resp = requests.get(f"{service.api_url}/v1/deliveries", params={"article_id": aid}, headers=ops, timeout=10)
        assert resp.status_code == 200, resp.text
        assert {d["article_id"] for d in resp.json()["deliveries"]} == {aid}


def test_ids_with_a_slash_can_be_read_back(service, unique):
    aid = f"desk/{unique}/story"
    posted(service, article_event(aid))
    state = wait_for(lambda: (r := requests.get(f"{service.api_url}/v1/articles/{aid}", timeout=5)).ok and r.json(),
                     what="article with a slash")
    assert state["id"] == aid


# --- 6. input that once answered 500 ---------------------------------------------------------

def test_deep_nesting_is_422(service):
    resp = requests.post(f"{service.api_url}/v1/events", data=b"[" * 2048 + b"]" * 2048,
                         headers=service.headers(), timeout=10)
    assert resp.status_code == 422 and resp.json()["problems"][0]["field"] == "(body)"


@pytest.mark.parametrize("field", ["section", "dateline", "source", "headline", "summary", "images.0.caption"])
def test_lone_surrogate_is_422_naming_the_field(service, unique, field):
    ev = article_event(f"sur-{unique}", images=[{"url": "https://news.example/i.jpg", "caption": "c"}])
    target, name = (ev["article"]["images"][0], "caption") if field.startswith("images") else (ev["article"], field)
    target[name] = "x\ud800y"
    body = json.dumps(ev).encode()  # ensure_ascii: the JSON carries the escape \ud800
    resp = requests.post(f"{service.api_url}/v1/events", data=body, headers=service.headers(), timeout=10)
    assert f"article.{field}" in problems(resp)


@pytest.mark.parametrize("url", ["https://[news.example/x", "https://news.example:99999/x",
                                 "https://news.example/a b", "javascript:alert(1)", "https:///nohost",
                                 "https://news.example\\@evil.example/"])
def test_malformed_article_url_is_422(service, unique, url):
    assert "article.url" in problems(post(service, article_event(f"url-{unique}", url=url)))


def test_wrong_content_type_is_415(service, unique):
    ev = article_event(f"ct-{unique}")
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Authorization": service.headers()["Authorization"]}
        if ctype:
            headers["Content-Type"] = ctype
        resp = requests.post(f"{service.api_url}/v1/events", data=json.dumps(ev), headers=headers, timeout=10)
        assert resp.status_code == 415, resp.text
        assert resp.json()["error"] == "unsupported_media_type"


# --- 7. duplicate guid -----------------------------------------------------------------------

def test_articles_sharing_a_url_keep_distinct_ids(service, unique):
    url = f"https://news.example/live/{unique}"
    first, second = f"live-a-{unique}", f"live-b-{unique}"
    posted(service, article_event(first, url=url))
    posted(service, article_event(second, url=url))
    wait_for(lambda: in_every_format(service, first, False) and in_every_format(service, second, False), timeout=20,
             what="both articles in every feed")
    parsed = feedparser.parse(feed(service, "rss").content)
    guids = [e.id for e in parsed.entries if e.get("link") == url]
    base_url = service.env["SYNDICATION_BASE_URL"]
    assert sorted(guids) == sorted([article_uri(first, base_url), article_uri(second, base_url)])
    atom_ids = [e.id for e in feedparser.parse(feed(service, "atom").content).entries if e.get("link") == url]
    assert len(set(atom_ids)) == 2


# --- who may read what -----------------------------------------------------------------------

def test_withdrawn_articles_are_tombstones_to_anonymous_readers(service, unique):
    aid = f"tomb-{unique}"
    posted(service, article_event(aid))
    wait_for(lambda: requests.get(f"{service.api_url}/v1/articles/{aid}", timeout=5).ok, what="applied")
    posted(service, withdrawal(aid, 2))
    def withdrawn():
        state = requests.get(f"{service.api_url}/v1/articles/{aid}", timeout=5).json()
        return state if state.get("status") == "withdrawn" else None

    gone = wait_for(withdrawn, what="withdrawn")
    assert gone["article"] is None and gone["withdrawn_reason"] is None
    full = requests.get(f"{service.api_url}/v1/articles/{aid}", headers={"Authorization": f"Bearer {OPS_KEY}"},
                        timeout=5).json()
    assert full["article"]["headline"] and full["withdrawn_reason"] == "test withdrawal"
