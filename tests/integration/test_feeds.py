"""Feeds as partners and aggregators see them, through the running API and real workers."""

from __future__ import annotations

import concurrent.futures
import gzip
import json
import time
from pathlib import Path
from urllib.parse import parse_qs

import feedparser
import jsonschema
import pytest
import requests
from lxml import etree

from tests.conftest import FEED_KEY
from tests.support.events import article_event, withdrawal
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration
JSONFEED_SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "jsonfeed-1.1.schema.json").read_text())


def post(service, event):
    resp = requests.post(f"{service.api_url}/v1/events", data=json.dumps(event, ensure_ascii=False).encode(),
                         headers=service.headers(), timeout=10)
    assert resp.status_code in (200, 202), resp.text
    return resp


def get(service, path, **kw):
    return requests.get(f"{service.api_url}{path}", timeout=10, **kw)


def ids_in(service, name: str, fmt: str = "rss") -> list[str]:
    resp = get(service, f"/feeds/{name}.{fmt}")
    if resp.status_code != 200:
        return []
    if fmt == "json":
        return [i["url"].rsplit("/", 1)[1] for i in resp.json()["items"]]
    return [e.link.rsplit("/", 1)[1] for e in feedparser.parse(resp.content).entries]


def rich_event(aid: str, version: int = 1, **kw):
    return article_event(
        aid, version, authors=["Adlet Seilkhanov", "Дәулет Сейітов"], categories=["Economy", "Kazakhstan"],
        images=[{"url": f"https://news.example/{aid}.jpg", "caption": "Caption", "mime_type": "image/jpeg",
                 "width": 1200, "height": 675, "length": 12345}], **kw)


def test_every_format_is_complete_and_valid(service, unique):
    aid = f"fmt-{unique}"
    post(service, rich_event(aid))
    wait_for(lambda: all(aid in ids_in(service, "economy", f) for f in ("rss", "atom", "json")), what="in feeds")
    for fmt in ("rss", "atom"):
        resp = get(service, f"/feeds/economy.{fmt}")
        etree.fromstring(resp.content)  # strict XML
        parsed = feedparser.parse(resp.content)
        assert parsed.bozo == 0
        assert parsed.feed.language == "en" or parsed.feed.get("language") == "en"
        e = next(x for x in parsed.entries if x.link.endswith(aid))
        assert e.title == f"Headline {aid} v1"
        assert e.link == f"https://news.example/en/{aid}"
        assert {"Adlet Seilkhanov", "Дәулет Сейітов"} <= {a.get("name") for a in e.authors}
        assert {t.term for t in e.tags} == {"Economy", "Kazakhstan"}
        assert "light rail" in e.content[0].value
        assert e.summary == f"Summary {aid} v1"
        if fmt == "rss":
            assert e.media_content[0]["url"] == f"https://news.example/{aid}.jpg"
            assert e.enclosures[0]["href"] == f"https://news.example/{aid}.jpg"
            assert e.guidislink is False and e.id == f"urn:syndication:article:{aid}"  # unique, not the URL
        else:
            enc = [link for link in e.links if link.rel == "enclosure"]
            assert enc and enc[0].type == "image/jpeg" and enc[0].length == "12345"
            alt = [link for link in e.links if link.rel == "alternate"]
            assert alt and alt[0].type == "text/html"
    doc = get(service, "/feeds/economy.json")
    assert doc.headers["content-type"].startswith("application/feed+json")
    body = doc.json()
    jsonschema.Draft202012Validator(JSONFEED_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(body)
    item = next(i for i in body["items"] if i["url"].endswith(aid))
    assert item["authors"][1]["name"] == "Дәулет Сейітов" and body["language"] == "en"
    assert body["hubs"][0]["url"] == service.partners["hub"].url


def test_conditional_get_round_trip_with_feedparser(service, unique):
    post(service, rich_event(f"cond-{unique}"))
    url = f"{service.api_url}/feeds/all.atom"
    wait_for(lambda: f"cond-{unique}" in ids_in(service, "all", "atom"), what="in feed")
    first = feedparser.parse(url)
    assert first.status == 200 and first.bozo == 0 and first.etag and first.modified
    assert feedparser.parse(url, etag=first.etag).status == 304
    assert feedparser.parse(url, modified=first.modified).status == 304


def test_serving_headers_gzip_head_and_errors(service):
    wait_for(lambda: get(service, "/feeds/all.rss").ok, what="rendered")
    resp = get(service, "/feeds/all.rss", headers={"Accept-Encoding": "gzip"}, stream=True)
    raw = resp.raw.read(decode_content=False)
    assert resp.headers["Content-Encoding"] == "gzip" and resp.headers["Vary"] == "Accept-Encoding"
    plain = get(service, "/feeds/all.rss", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert gzip.decompress(raw) == plain.content
    etag = plain.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert plain.headers["Cache-Control"] == "public, max-age=300"
    assert f'<{service.partners["hub"].url}>; rel="hub"' in plain.headers["Link"]
    assert f'<{service.api_url}/feeds/all.rss>; rel="self"' in plain.headers["Link"]
    assert get(service, "/feeds/all.rss", headers={"If-None-Match": f'W/{etag}, "x"'}).status_code == 304
    ims = get(service, "/feeds/all.rss", headers={"If-Modified-Since": plain.headers["Last-Modified"]})
    assert ims.status_code == 304 and ims.headers["ETag"] == etag
    head = requests.head(f"{service.api_url}/feeds/all.rss", headers={"Accept-Encoding": "identity"}, timeout=5)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == len(plain.content)
    for path in ("/feeds/nope.rss", "/feeds/all.pdf", "/feeds/all"):
        r = get(service, path)
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    listing = get(service, "/feeds").json()["feeds"]
    assert {"all", "economy", "partners-only"} <= {f["name"] for f in listing}
    assert next(f for f in listing if f["name"] == "all")["urls"]["atom"] == f"{service.api_url}/feeds/all.atom"


def test_partner_only_feed_needs_a_feed_key(service):
    assert get(service, "/feeds/partners-only.rss").status_code == 401
    assert get(service, "/feeds/partners-only.rss", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = wait_for(lambda: (r := get(service, "/feeds/partners-only.rss",
                                    headers={"Authorization": f"Bearer {FEED_KEY}"})).ok and r, what="partner feed")
    assert feedparser.parse(ok.content).bozo == 0


def test_update_moves_item_between_feeds_and_withdrawal_removes_everywhere(service, unique):
    aid = f"move-{unique}"
    post(service, rich_event(aid))
    wait_for(lambda: aid in ids_in(service, "economy"), what="in economy")
    post(service, article_event(aid, 2, categories=["Sport"]))
    wait_for(lambda: aid not in ids_in(service, "economy"), what="left economy")
    wait_for(lambda: aid in ids_in(service, "all") and
             next(e for e in feedparser.parse(get(service, "/feeds/all.rss").content).entries
                  if e.link.endswith(aid)).title.endswith("v2"), what="updated in all")
    post(service, withdrawal(aid, 3))
    for fmt in ("rss", "atom", "json"):
        wait_for(lambda: aid not in ids_in(service, "all", fmt), what=f"withdrawn from all.{fmt}")


def test_hostile_content_through_the_service(service, unique):
    aid = f"hostile-{unique}"
    body = ('<p onmouseover="steal()">Жаңалықтар ]]> שלום 🎉 \x01\x0b</p><script>alert(1)</script>'
            '<a href="javascript:alert(1)">x</a><img src="https://news.example/i.jpg" onerror="x()">'
            + "<p>" + "ж" * 300_000 + "</p>")
    post(service, article_event(aid, language="kk", headline="Тақырып \x0c ]]> 🎉", body_html=body))
    wait_for(lambda: aid in ids_in(service, "kk"), what="in kk feed")
    for fmt in ("rss", "atom"):
        content = get(service, f"/feeds/kk.{fmt}").content
        etree.fromstring(content)
        parsed = feedparser.parse(content)
        assert parsed.bozo == 0
        html = next(e for e in parsed.entries if e.link.endswith(aid)).content[0].value
        for bad in ("<script", "javascript:", "onmouseover", "onerror", "\x01", "\x0b"):
            assert bad not in html
        assert "Жаңалықтар" in html and "🎉" in html and "שלום" in html


def test_websub_hub_is_pinged_when_a_feed_changes(service, unique):
    hub = service.partners["hub"]
    post(service, rich_event(f"hub-{unique}"))
    wait_for(lambda: f"hub-{unique}" in ids_in(service, "economy"), what="in feed")

    def pinged():
        urls = set()
        for r in list(hub.requests):
            urls.update(parse_qs(r.body.decode()).get("hub.url", []))
        return f"{service.api_url}/feeds/economy.atom" in urls and f"{service.api_url}/feeds/economy.rss" in urls

    wait_for(pinged, what="hub pinged")
    assert all(parse_qs(r.body.decode())["hub.mode"] == ["publish"] for r in hub.requests)
    assert hub.requests[0].headers["content-type"] == "application/x-www-form-urlencoded"


def test_burst_of_1000_events_is_coalesced(service, unique):
    """1,000 events across three feeds: renders stay at most 1 per 100 events; feeds end right."""
    ctx = service.ctx
    feeds = [f"burst-{x}" for x in "abc"]

    def renders(name):
        return int(ctx.redis.hget(ctx.keys.feed_stats(name), "renders") or 0)

    before = {name: renders(name) for name in feeds + ["all"]}
    events = [article_event(f"b{unique}-{i}", categories=[f"Burst{'abc'[i % 3]}"]) for i in range(1000)]
    session = requests.Session()

    def send(chunk):
        s = requests.Session()
        for ev in chunk:
            r = s.post(f"{service.api_url}/v1/events", data=json.dumps(ev), headers=service.headers(), timeout=30)
            assert r.status_code == 202
        return time.time()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        last_accept = max(pool.map(send, [events[i::4] for i in range(4)]))
    last = {name: f"b{unique}-{max(i for i in range(1000) if i % 3 == k)}" for k, name in enumerate(feeds)}
    # Every event applied; then the feeds show the newest items.
    wait_for(lambda: ctx.redis.zcard(ctx.keys.events_pending) == 0, timeout=60, what="all applied")
    for name in feeds:
        wait_for(lambda: last[name] in ids_in(service, name), timeout=10, what=f"{name} has the last event")
    fresh = time.time() - last_accept
    time.sleep(2.5)  # let any pending render finish before counting
    for k, name in enumerate(feeds):
        expected = [e["article"]["id"] for e in events if e["article"]["categories"] == [f"Burst{'abc'[k]}"]]
        got = ids_in(service, name)
        assert set(got) <= set(expected) and len(got) == 50
        assert last[name] in got
    counts = {name: renders(name) - before[name] for name in before}
    print(f"\nburst renders per feed: {counts}; last feed fresh {fresh:.2f}s after the last 202")
    session.close()
    for name in feeds + ["all"]:
        assert counts[name] <= 10, counts  # 1,000 events: at most 1 render per 100 events
