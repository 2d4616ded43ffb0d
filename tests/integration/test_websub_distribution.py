"""Our own WebSub hub: content distribution to subscribers, on real processes (tests/support/hub.py).

websub.rocks' hub tests 100-106 (the distribution half: Atom, RSS and JSON topics, Content-Type,
Link headers, the signature checked by an HMAC of our own), plus: a denied callback never gets
content, an expired lease stops distribution, 200 subscribers get one change within 2 s, a
hanging subscriber delays nobody, a lagging one gets the newest bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import feedparser
import pytest
import requests

from syndication.delivery import records, subscriptions
from tests.support import w3c
from tests.support.hub import PARTNER
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


def _served(hub, topic) -> requests.Response:
    return requests.get(topic, timeout=10)


def _subscribe_all(hub, pairs, **extra):
    for i, (topic, cb) in enumerate(pairs):
        resp = hub.subscribe(topic, cb, client=f"10.9.{i // 250}.{i % 250}", **extra)
        assert resp.status_code == 202, resp.text
    for topic, cb in pairs:
        hub.wait_active(topic, cb, timeout=30)


@pytest.mark.parametrize("fmt,media", [("atom", "application/atom+xml"), ("rss", "application/rss+xml"),
                                       ("json", "application/feed+json")])
def test_each_format_is_distributed_with_its_content_type_link_and_signature(hub, unique, fmt, media):
    name, secret = f"fmt-{fmt}-{unique}", f"secret-{unique}"
    topic, cb = hub.topic("hubnews", fmt), hub.subs.callback(name)
    _subscribe_all(hub, [(topic, cb)], **{"hub.secret": secret})
    hub.publish("hubnews", f"hub-{fmt}-{unique}")
    post = wait_for(lambda: hub.subs.received(name), timeout=15, what="content")[0]
    assert post.headers["content-type"].startswith(media)
    assert post.headers["link"] == f'<{hub.url}/websub>; rel="hub", <{topic}>; rel="self"'
    expected = "sha256=" + hmac.new(secret.encode(), post.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(post.headers["x-hub-signature"], expected)
    assert f"hub-{fmt}-{unique}".encode() in post.body
    served = _served(hub, topic)
    assert served.headers["content-type"] == post.headers["content-type"]
    if fmt != "json":
        parsed = feedparser.parse(post.body)
        assert parsed.bozo == 0
        assert {(link.get("rel"), link.get("href")) for link in parsed.feed.links} >= {
            ("hub", f"{hub.url}/websub"), ("self", topic)}
        report = w3c.validate(post.body, content_type=post.headers["content-type"], base=topic)
        assert not report.errors and report.feed_type == fmt, report.errors
    else:
        assert json.loads(post.body)["hubs"] == [{"type": "WebSub", "url": f"{hub.url}/websub"}]


def test_content_without_a_secret_is_unsigned(hub, unique):
    name = f"unsigned-{unique}"
    topic, cb = hub.topic("hubnews", "atom"), hub.subs.callback(name)
    _subscribe_all(hub, [(topic, cb)])
    hub.publish("hubnews", f"hub-unsigned-{unique}")
    post = wait_for(lambda: hub.subs.received(name), timeout=15, what="content")[0]
    assert "x-hub-signature" not in post.headers


def test_a_subscribers_finished_deliveries_are_kept_a_day_not_the_partners_thirty(hub, unique):
    """Every render makes one delivery per subscriber: kept 30 days like a partner's, they would fill Redis."""
    name = f"kept-{unique}"
    topic, cb = hub.topic("hubnews", "atom"), hub.subs.callback(name)
    _subscribe_all(hub, [(topic, cb)])
    hub.publish("hubnews", f"hub-kept-{unique}")
    wait_for(lambda: hub.subs.received(name), timeout=15, what="content")
    sid = subscriptions.sub_id(topic, cb)
    done = wait_for(lambda: [r for r in records.for_partner(hub.ctx, sid) if r["status"] == "delivered"],
                    timeout=15, what="a delivered record")
    day, partner_days = hub.ctx.settings.websub_delivery_retention, hub.ctx.settings.delivery_retention
    assert day == 86400 and partner_days == 30 * 86400
    for rec in done:  # the verification and the content
        ttl = hub.ctx.redis.ttl(hub.ctx.keys.delivery(rec["id"]))
        assert day - 120 < ttl <= day, (rec["article_id"], ttl)


def test_a_denied_callback_never_receives_content(hub, unique):
    topic = hub.topic("hubsolo", "atom")
    good, bad = f"good-{unique}", f"bad-{unique}"
    hub.subs.verify[bad] = "wrong"
    _subscribe_all(hub, [(topic, hub.subs.callback(good))])
    assert hub.subscribe(topic, hub.subs.callback(bad)).status_code == 202
    wait_for(lambda: hub.subs.verifications(bad) and
             subscriptions.get(hub.ctx, subscriptions.sub_id(topic, hub.subs.callback(bad))) is None,
             what="the bad callback denied")
    hub.publish("hubsolo", f"hub-deny-{unique}")
    wait_for(lambda: any(f"hub-deny-{unique}".encode() in p.body for p in hub.subs.received(good)), what="content")
    assert hub.subs.received(bad) == []


def test_an_expired_lease_stops_distribution(hub, unique):
    topic = hub.topic("hubsolo", "rss")
    short, control = f"short-{unique}", f"control-{unique}"
    _subscribe_all(hub, [(topic, hub.subs.callback(control))])
    _subscribe_all(hub, [(topic, hub.subs.callback(short))], **{"hub.lease_seconds": "2"})
    hub.publish("hubsolo", f"hub-lease1-{unique}")
    wait_for(lambda: hub.subs.received(short) and hub.subs.received(control), what="first content to both")
    sid = subscriptions.sub_id(topic, hub.subs.callback(short))
    ends = subscriptions.get(hub.ctx, sid)["expires_at"]
    wait_for(lambda: time.time() > ends, timeout=5, what="the lease's end")  # not the sweep: checked at once
    hub.publish("hubsolo", f"hub-lease2-{unique}")
    wait_for(lambda: any(f"hub-lease2-{unique}".encode() in p.body for p in hub.subs.received(control)),
             what="the second change at the control")
    assert not any(f"hub-lease2-{unique}".encode() in p.body for p in hub.subs.received(short))
    assert len(hub.subs.received(short)) == 1
    wait_for(lambda: subscriptions.get(hub.ctx, sid) is None, timeout=10, what="the lease swept")
    assert sid not in hub.ctx.redis.zrange(hub.ctx.keys.websub_topic("hubsolo", "rss"), 0, -1)


def test_two_hundred_subscribers_all_receive_one_change_within_two_seconds(hub, unique):
    topic = hub.topic("hubwide", "atom")
    names = [f"wide{i}-{unique}" for i in range(200)]
    _subscribe_all(hub, [(topic, hub.subs.callback(n)) for n in names])
    marker = f"hub-wide-{unique}".encode()
    published = hub.publish("hubwide", f"hub-wide-{unique}")

    def arrivals():
        got = [next((p.at for p in hub.subs.received(n) if marker in p.body), None) for n in names]
        return got if all(got) else None

    got = wait_for(arrivals, timeout=20, interval=0.02, what="all 200 subscribers")
    last = max(got) - published
    print(f"\nBENCH websub fan-out: 200 subscribers, last received {last:.3f} s after publish "
          f"(median {sorted(got)[100] - published:.3f} s)")
    assert last < 2.0, f"the last of 200 subscribers got the change {last:.2f} s after it was published"
    assert all(len([p for p in hub.subs.received(n) if marker in p.body]) == 1 for n in names)
    # One metrics series for every subscriber, not one each: anyone may subscribe.
    labels = [f.decode() for name in ("delivery_attempts", "delivery_latency_seconds")
              for f in hub.ctx.redis.hkeys(hub.ctx.keys.metric(name))]
    assert labels and not [f for f in labels if "ws-" in f], labels[:5]
    assert any("websub-subscribers" in f for f in labels)


def test_a_hanging_subscriber_delays_nobody(hub, unique):
    topic = hub.topic("hubslow", "json")
    stuck, others = f"stuck-{unique}", [f"quick{i}-{unique}" for i in range(5)]
    hub.subs.content[stuck] = "hang"
    _subscribe_all(hub, [(topic, hub.subs.callback(n)) for n in [stuck, *others]])
    hub.publish("hubslow", f"hub-slow1-{unique}")
    wait_for(lambda: hub.subs.received(stuck), what="the stuck subscriber holding a request")
    for version in (2, 3):
        marker = f"hub-slow{version}-{unique}".encode()
        published = hub.publish("hubslow", f"hub-slow{version}-{unique}")
        got = wait_for(lambda: [next((p.at for p in hub.subs.received(n) if marker in p.body), None)
                                for n in others] if all(any(marker in p.body for p in hub.subs.received(n))
                                                        for n in others) else None,
                       timeout=10, what=f"change {version} at the quick subscribers")
        assert max(got) - published < 2.0, f"quick subscribers waited {max(got) - published:.2f} s"
    assert len(hub.subs.received(stuck)) == 1  # still hanging on the first: nothing else taken meanwhile


def test_hanging_subscribers_by_the_hundred_take_no_pusher_a_partner_needs(hub, unique):
    """More hanging callbacks than a deliveries process has pushers (128): at most half go to the
    hub's subscribers (engine.HUB_SHARE), so a partner's push goes out at once meanwhile."""
    topic = hub.topic("hubflood", "atom")
    names = [f"flood{i}-{unique}" for i in range(140)]
    for n in names:
        hub.subs.content[n] = "hang"
    _subscribe_all(hub, [(topic, hub.subs.callback(n)) for n in names])
    hub.publish("hubflood", f"hub-flood-{unique}")
    wait_for(lambda: sum(1 for n in names if hub.subs.received(n)) >= 60, timeout=15, what="subscribers hanging")
    story = f"desk-{unique}"
    published = hub.publish(PARTNER, story)
    got = wait_for(lambda: [r for r in hub.partner.requests if story.encode() in r.body], timeout=15,
                   what="the partner's push")
    print(f"\nBENCH partner push with {sum(1 for n in names if hub.subs.received(n))} subscribers hanging: "
          f"{got[0].at - published:.3f} s after publish")
    assert got[0].at - published < 2.0
    for n in names:  # let their retries succeed, so they hold no pusher in later tests
        hub.subs.content[n] = "ok"


def test_a_lagging_subscriber_gets_the_newest_bytes_not_a_backlog(hub, unique):
    """Content deliveries of an older ETag are superseded once the feed moved on (checked at send)."""
    name = f"lag-{unique}"
    topic, cb = hub.topic("hubsolo", "json"), hub.subs.callback(name)
    _subscribe_all(hub, [(topic, cb)])
    sid = subscriptions.sub_id(topic, cb)
    hub.subs.content[name] = "hang"  # the first content holds its one slot; the next ones wait behind it
    hub.publish("hubsolo", f"hub-lag1-{unique}")
    wait_for(lambda: hub.subs.received(name), what="the first content in flight")
    for v in (2, 3, 4):
        hub.publish("hubsolo", f"hub-lag{v}-{unique}")
        etag = wait_for(lambda: f"hub-lag{v}-{unique}".encode() in _stored(hub, "hubsolo", "json")
                        and _etag(hub, "hubsolo", "json"), what=f"change {v} rendered")
        wait_for(lambda: any(r["event_type"] == "websub.content" and r["event_id"] == etag
                             for r in records.for_partner(hub.ctx, sid)), what=f"content delivery of change {v}")
    hub.subs.content[name] = "ok"
    newest = f"hub-lag4-{unique}".encode()
    wait_for(lambda: any(newest in p.body for p in hub.subs.received(name)), timeout=20, what="the newest bytes")
    assert not any(f"hub-lag{v}-{unique}".encode() in p.body and newest not in p.body
                   for p in hub.subs.received(name)[1:] for v in (2, 3))  # no stale version after the first
    def states():  # outcomes are written after the answer the subscriber recorded: wait for them
        found = [r["status"] for r in records.for_partner(hub.ctx, sid) if r["event_type"] == "websub.content"]
        return found if found.count("superseded") >= 2 and found.count("delivered") == 1 else None

    wait_for(states, what="changes 2 and 3 superseded, the newest delivered")  # the first may still be retrying


def _stored(hub, feed, fmt) -> bytes:
    return hub.ctx.redis.hget(hub.ctx.keys.feed_rendered(feed, fmt), "body") or b""


def _etag(hub, feed, fmt) -> str:
    return (hub.ctx.redis.hget(hub.ctx.keys.feed_rendered(feed, fmt), "etag") or b"").decode()


def test_content_answered_410_gone_ends_the_subscription(hub, unique):
    name = f"gone-{unique}"
    topic, cb = hub.topic("hubsolo", "atom"), hub.subs.callback(name)
    _subscribe_all(hub, [(topic, cb)])
    hub.subs.content[name] = "410"
    hub.publish("hubsolo", f"hub-gone-{unique}")
    wait_for(lambda: subscriptions.get(hub.ctx, subscriptions.sub_id(topic, cb)) is None, what="the subscription ended")
    (rec,) = wait_for(lambda: [r for r in records.for_partner(hub.ctx, subscriptions.sub_id(topic, cb))
                               if r["event_type"] == "websub.content" and r["status"] != "pending"],
                      what="the content's outcome")
    assert rec["status"] == "cancelled" and len(hub.subs.received(name)) == 1
    assert not hub.ctx.redis.zscore(hub.ctx.keys.partner_parked(subscriptions.sub_id(topic, cb)), rec["id"])
