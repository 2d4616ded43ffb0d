"""Documented promises about feeds (docs/explanation/feeds.md), on the
session service's feed `ordered` (category NewestFirst, tests/conftest.py).

- every format lists items newest first;
- Last-Modified is taken from the data, and the same state always renders the same bytes;
- a lost render is re-queued when its render lock expires;
- WebSub pings go through the delivery machinery: retried and recorded;
- `syndication_feed_render_seconds` observes every render.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import parse_qs

import feedparser
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from syndication.feeds import index
from syndication.identity import article_uri
from tests.conftest import OPS_KEY
from tests.support.events import article_event
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration
FEED = "ordered"
OPS = {"Authorization": f"Bearer {OPS_KEY}"}


def post(service, event: dict) -> None:
    resp = requests.post(f"{service.api_url}/v1/events", data=json.dumps(event), headers=service.headers(), timeout=10)
    assert resp.status_code == 202, resp.text


def served(service, fmt: str) -> requests.Response | None:
    resp = requests.get(f"{service.api_url}/feeds/{FEED}.{fmt}", timeout=10)
    return resp if resp.status_code == 200 else None


def ids(service, fmt: str) -> list[str]:
    resp = served(service, fmt)
    if resp is None:
        return []
    if fmt == "json":
        return [item["id"] for item in resp.json()["items"]]
    parsed = feedparser.parse(resp.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return [e.id for e in parsed.entries]


def urn(aid: str) -> str:
    return article_uri(aid, "http://127.0.0.1")  # the host of the session service's SYNDICATION_BASE_URL


def renders(service) -> int:
    ctx = service.ctx
    return int(ctx.redis.hget(ctx.keys.feed_stats(FEED), "renders") or 0)


def sweeps(service) -> float:
    ctx = service.ctx
    return float(ctx.redis.hget(ctx.keys.metric("sweeps"), "outcome=ran") or 0)


def metrics(service) -> dict:
    text = requests.get(f"{service.api_url}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_every_format_lists_items_newest_first(service, unique):
    base = datetime(2021, 3, 1, tzinfo=timezone.utc)
    aids = {k: f"order{k}-{unique}" for k in range(4)}  # k hours after base: order3 is the newest
    for k in (2, 0, 3, 1):  # posted out of order
        post(service, article_event(aids[k], categories=["NewestFirst"], published_at=base + timedelta(hours=k)))
    newest_first = [urn(aids[k]) for k in (3, 2, 1, 0)]
    for fmt in ("rss", "atom", "json"):
        got = wait_for(lambda fmt=fmt: (x := ids(service, fmt)) and set(newest_first) <= set(x) and x,
                       timeout=20, what=f"the four articles in {FEED}.{fmt}")
        assert [i for i in got if i in newest_first] == newest_first, f"{fmt}: {got}"
    items = json.loads(served(service, "json").content)["items"]
    dates = [datetime.fromisoformat(i["date_published"]) for i in items]
    assert dates == sorted(dates, reverse=True), "the whole JSON Feed is newest first"


def test_last_modified_comes_from_the_data_and_a_rerender_serves_the_same_bytes(service, unique):
    aid = f"lastmod-{unique}"
    published = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)  # newest in the feed
    post(service, article_event(aid, categories=["NewestFirst"], published_at=published))
    # article_event: updated_at = occurred_at = published_at + 1 s (version 1): the newest change in the data.
    expected = format_datetime(published + timedelta(seconds=1), usegmt=True)
    first = {}
    for fmt in ("rss", "atom", "json"):
        first[fmt] = wait_for(lambda fmt=fmt: urn(aid) in ids(service, fmt) and served(service, fmt),
                              timeout=20, what=f"{aid} in {FEED}.{fmt}")
        assert first[fmt].headers["Last-Modified"] == expected, (fmt, first[fmt].headers["Last-Modified"])
    # The same state rendered again, later on the clock: mark the feed dirty; the sweeper queues a render.
    ctx, before, rendered_at = service.ctx, renders(service), time.time()
    ctx.redis.zadd(ctx.keys.feeds_dirty, {FEED: time.time()}, nx=True)
    wait_for(lambda: renders(service) > before, timeout=15, what="a render of the unchanged feed")
    assert float(ctx.redis.hget(ctx.keys.feed_stats(FEED), "last_render_at")) >= rendered_at
    for fmt in ("rss", "atom", "json"):
        again = served(service, fmt)
        assert again.content == first[fmt].content, f"{fmt}: the same state rendered other bytes"
        assert again.headers["ETag"] == first[fmt].headers["ETag"]
        assert again.headers["Last-Modified"] == expected
        not_modified = requests.get(f"{service.api_url}/feeds/{FEED}.{fmt}", timeout=10,
                                    headers={"If-Modified-Since": expected})
        assert not_modified.status_code == 304


def test_a_lost_render_is_requeued_once_its_render_lock_is_gone(service, unique):
    """A render queued and lost: the feed is dirty and its lock (TTL 30 s) held by nobody.
    Deleting the lock stands for its TTL passing."""
    ctx = service.ctx
    aid = f"lostrender-{unique}"
    post(service, article_event(aid, categories=["NewestFirst"]))
    wait_for(lambda: urn(aid) in ids(service, "json"), timeout=20, what="feed rendered with the article")
    wait_for(lambda: not ctx.redis.exists(ctx.keys.feed_render_lock(FEED)), what="no render in flight")
    before = renders(service)
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.set(ctx.keys.feed_render_lock(FEED), f"lost-{unique}", ex=index.RENDER_LOCK_TTL)
    pipe.zadd(ctx.keys.feeds_dirty, {FEED: time.time()})
    pipe.execute()
    try:
        ran = sweeps(service)
        wait_for(lambda: sweeps(service) >= ran + 2, timeout=15, what="two sweeps while the lock is held")
        assert renders(service) == before, "rendered while another render held the lock"
        assert ctx.redis.zscore(ctx.keys.feeds_dirty, FEED) is not None
        assert 0 < ctx.redis.ttl(ctx.keys.feed_render_lock(FEED)) <= 30
    finally:
        ctx.redis.delete(ctx.keys.feed_render_lock(FEED))  # the TTL passing
    wait_for(lambda: renders(service) > before and ctx.redis.zscore(ctx.keys.feeds_dirty, FEED) is None,
             timeout=15, what="the lost render re-queued by the sweeper and done")


def test_websub_pings_are_retried_and_recorded(service, unique):
    hub = service.partners["hub"]
    seen, started = len(hub.requests), time.time()
    hub.script([503, 503])  # the next two pings fail
    post(service, article_event(f"websub-{unique}", categories=["NewestFirst"]))

    def retried_to_success():
        listed = requests.get(f"{service.api_url}/v1/deliveries", params={"partner": "websub-hub", "limit": 100},
                              headers=OPS, timeout=5).json()["deliveries"]
        return next((d for d in listed if d["created_at"] >= started - 1 and d["status"] == "delivered"
                     and d["attempt_log"][0]["status"] == 503), None)

    rec = wait_for(retried_to_success, timeout=30, what="a hub ping answered 503, retried, delivered")
    assert rec["event_type"] == "websub.publish" and rec["article_id"].startswith(f"{service.api_url}/feeds/")
    statuses = [a["status"] for a in rec["attempt_log"]]
    assert statuses[-1] == 200 and set(statuses[:-1]) == {503} and rec["attempts"] == len(statuses)
    one = requests.get(f"{service.api_url}/v1/deliveries/{rec['id']}", headers=OPS, timeout=5).json()
    assert [a["status"] for a in one["attempt_log"]] == statuses
    # The hub saw those attempts for that feed URL (hub.mode=publish each time): the 503s, then a 200.
    topic = [(r.status_sent, parse_qs(r.body.decode())) for r in list(hub.requests)[seen:]
             if parse_qs(r.body.decode()).get("hub.url") == [rec["article_id"]]]
    answered = [status for status, _ in topic]
    assert answered.count(503) >= statuses.count(503) and 200 in answered[answered.index(503):], answered
    assert all(form["hub.mode"] == ["publish"] for _, form in topic)
    assert metrics(service)[("syndication_retries_scheduled_total", (("partner", "websub-hub"),))] >= 1


def test_feed_render_seconds_observes_every_render(service, unique):
    before = metrics(service)
    key = (("feed", FEED),)
    post(service, article_event(f"rendersecs-{unique}", categories=["NewestFirst"]))
    wait_for(lambda: urn(f"rendersecs-{unique}") in ids(service, "rss"), timeout=20, what="rendered")
    wait_for(lambda: not service.ctx.redis.exists(service.ctx.keys.feed_render_lock(FEED)), what="render done")
    after = metrics(service)
    count = after[("syndication_feed_render_seconds_count", key)]
    assert count == after[("syndication_feed_renders_total", key)] == renders(service)
    assert count > before.get(("syndication_feed_render_seconds_count", key), 0)
    assert after[("syndication_feed_render_seconds_sum", key)] > 0
    buckets = sorted((float(dict(labels)["le"]), v) for (name, labels), v in after.items()
                     if name == "syndication_feed_render_seconds_bucket" and dict(labels).get("feed") == FEED)
    assert buckets[-1] == (float("inf"), count) and [v for _, v in buckets] == sorted(v for _, v in buckets)
