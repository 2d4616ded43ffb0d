"""Operating our own WebSub hub: counts in `status`, `/ops` and `/metrics`, ended subscriptions kept
then deleted, `websub list` and `websub remove`; on real processes (tests/support/hub.py).

The counts are checked against subscriptions made here, on the feed `hubops` that no other test uses:
active ones (the subscriber echoes), unverified ones (their subscriber target is paused before they
ask, so their verification waits), and the subscribers' health (the paused ones have work waiting).
"""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from syndication.delivery import circuit, subscription_ends, subscriptions
from syndication.ops import audit
from tests.conftest import OPS_KEY
from tests.support import cli
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration
FEED = "hubops"


def env(hub) -> dict:
    return dict(hub.ctx.settings.source.environ)


def scrape(hub) -> str:
    return requests.get(f"{hub.url}/metrics", timeout=10).text


def value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        m = re.match(rf"{name}(?:\{{(.*)\}})? (\S+)$", line)
        if m and dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or "")) == labels:
            return float(m.group(2))
    return None


def status_json(hub) -> dict:
    done = cli.run(env(hub), "status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def topic_row(st: dict, topic: str) -> dict:
    (row,) = [t for t in st["websub"]["topics"] if t["topic"] == topic]
    return row


def subscribe_paused(hub, topic: str, cb: str) -> str:
    """A subscription whose verification waits (its subscriber target is paused before it asks)."""
    sid = subscriptions.sub_id(topic, cb)
    circuit.pause(hub.ctx, sid)
    assert hub.subscribe(topic, cb).status_code == 202
    return sid


def test_status_ops_and_metrics_count_the_subscriptions_made_here(hub, unique):
    atom, rss, js = (hub.topic(FEED, f) for f in ("atom", "rss", "json"))
    before = scrape(hub)
    accepted0 = value(before, "syndication_websub_requests_total", mode="subscribe", result="accepted")
    subscribed0 = value(before, "syndication_websub_verifications_total", outcome="subscribed")
    active = [(atom, hub.subs.callback(f"ops-a{i}-{unique}")) for i in range(3)] + \
        [(js, hub.subs.callback(f"ops-j-{unique}"))]
    for topic, cb in active:
        assert hub.subscribe(topic, cb).status_code == 202
    paused = [subscribe_paused(hub, rss, hub.subs.callback(f"ops-r{i}-{unique}")) for i in range(2)]
    for topic, cb in active:
        hub.wait_active(topic, cb)
    try:
        st = status_json(hub)
        assert (topic_row(st, atom)["active"], topic_row(st, atom)["unverified"]) == (3, 0)
        assert (topic_row(st, rss)["active"], topic_row(st, rss)["unverified"]) == (0, 2)
        assert (topic_row(st, js)["active"], topic_row(st, js)["unverified"]) == (1, 0)
        hub_st = st["websub"]
        assert hub_st["totals"] == {s: sum(t[s] for t in hub_st["topics"]) for s in ("active", "unverified")}
        assert hub_st["by_format"]["rss"]["unverified"] >= 2
        health = hub_st["subscribers"]  # the paused two wait with their verification
        assert health["waiting_subscribers"] >= 2 and health["deliveries_waiting"] >= 2
        assert health["oldest_waiting_seconds"] is not None
        text = cli.run(env(hub), "status").stdout
        assert f"{atom}: 3 active, 0 unverified" in text and f"{rss}: 0 active, 2 unverified" in text, text

        page = requests.get(f"{hub.url}/ops", headers={"Authorization": f"Bearer {OPS_KEY}"}, timeout=10)
        assert page.status_code == 200
        rows = re.findall(r"<tr><td>(\S+)</td><td>hubops</td><td>(\w+)</td><td>(\d+)</td><td>(\d+)</td></tr>",
                          page.text)
        assert sorted(rows) == sorted([(atom, "atom", "3", "0"), (js, "json", "1", "0"), (rss, "rss", "0", "2")])

        metrics = scrape(hub)
        for fmt, state, n in (("atom", "active", 3), ("atom", "unverified", 0), ("rss", "unverified", 2),
                              ("rss", "active", 0), ("json", "active", 1)):
            assert value(metrics, "syndication_websub_topic_subscriptions", feed=FEED, format=fmt, state=state) == n
        total = value(metrics, "syndication_websub_subscriptions", state="active")
        per_topic = sum(float(v) for v in re.findall(
            r'syndication_websub_topic_subscriptions\{[^}]*state="active"\} (\S+)', metrics))
        assert total == per_topic >= 4
        assert value(metrics, "syndication_websub_requests_total", mode="subscribe", result="accepted") \
            == accepted0 + 6
        assert value(metrics, "syndication_websub_verifications_total", outcome="subscribed") >= subscribed0 + 4
        assert value(metrics, "syndication_websub_deliveries_waiting") >= 2
        assert "ws-" not in "\n".join(l for l in metrics.splitlines() if l.startswith("syndication_websub"))
    finally:
        for sid in paused:
            subscriptions.remove(hub.ctx, subscriptions.get(hub.ctx, sid))
            circuit.resume(hub.ctx, sid)


def test_refused_and_throttled_requests_are_counted_by_result(hub, unique):
    before = scrape(hub)
    refused0 = value(before, "syndication_websub_requests_total", mode="subscribe", result="refused")
    invalid0 = value(before, "syndication_websub_requests_total", mode="invalid", result="refused")
    resp = hub.subscribe("http://elsewhere.example/feed.xml", hub.subs.callback(f"ops-x-{unique}"))
    assert resp.status_code == 404
    assert hub.subscribe(hub.topic(FEED), hub.subs.callback(f"ops-y-{unique}"), mode="publish").status_code == 400
    after = scrape(hub)
    assert value(after, "syndication_websub_requests_total", mode="subscribe", result="refused") == refused0 + 1
    assert value(after, "syndication_websub_requests_total", mode="invalid", result="refused") == invalid0 + 1
    for mode in ("subscribe", "unsubscribe", "invalid"):
        for result in ("accepted", "throttled", "full", "refused"):
            assert value(after, "syndication_websub_requests_total", mode=mode, result=result) is not None


def test_ended_subscriptions_are_kept_with_why_then_deleted(hub, unique):
    topic = hub.topic(FEED, "json")
    short, wrong = hub.subs.callback(f"ops-lease-{unique}"), hub.subs.callback(f"ops-deny-{unique}")
    hub.subs.verify[f"ops-deny-{unique}"] = "wrong"
    assert hub.subscribe(topic, short, **{"hub.lease_seconds": "1"}).status_code == 202
    assert hub.subscribe(topic, wrong).status_code == 202
    ids = {subscriptions.sub_id(topic, short): "expired", subscriptions.sub_id(topic, wrong): "denied"}

    def ended():
        done = cli.run(env(hub), "websub", "list", "--ended", "--topic", topic, "--json")
        found = {r["id"]: r for r in json.loads(done.stdout)}
        return found if all(found.get(i, {}).get("reason") == why for i, why in ids.items()) else None

    found = wait_for(ended, timeout=20, what="the expired and the denied subscription kept as ended")
    assert found[subscriptions.sub_id(topic, short)]["callback"] == short
    for sid in ids:
        assert subscriptions.get(hub.ctx, sid) is None  # the record itself is gone at once
        ttl = hub.ctx.redis.ttl(hub.ctx.keys.websub_ended_sub(sid))
        assert 0 < ttl <= hub.ctx.settings.websub_ended_retention
    counts = status_json(hub)["websub"]["ended"]
    assert counts["expired"] >= 1 and counts["denied"] >= 1
    # Past retention: the index forgets them (their hashes expire by themselves at the same time).
    later = time.time() + hub.ctx.settings.websub_ended_retention + 1
    assert subscription_ends.trim(hub.ctx, later) >= 2
    assert not {i for i in ids if hub.ctx.redis.zscore(hub.ctx.keys.websub_ended, i) is not None}


def test_ops_list_a_topics_subscribers_and_remove_one(hub, unique):
    topic = hub.topic(FEED, "atom")
    keep, gone = hub.subs.callback(f"ops-keep-{unique}"), hub.subs.callback(f"ops-gone-{unique}")
    for cb in (keep, gone):
        assert hub.subscribe(topic, cb, **{"hub.secret": "never-shown-" + unique}).status_code == 202
        hub.wait_active(topic, cb)
    listed = cli.run(env(hub), "websub", "list", "--topic", topic, "--json")
    assert listed.returncode == 0 and "never-shown" not in listed.stdout
    rows = {r["callback"]: r for r in json.loads(listed.stdout)}
    assert rows[keep]["state"] == rows[gone]["state"] == "active" and set(rows) >= {keep, gone}
    sid = rows[gone]["id"]
    done = cli.run(env(hub), "websub", "remove", sid, "--reason", "misbehaving reader")
    assert done.returncode == 0, done.stderr
    assert subscriptions.get(hub.ctx, sid) is None
    assert cli.run(env(hub), "websub", "remove", sid).returncode == 2  # gone already: says so
    (entry,) = [a for a in audit.recent(hub.ctx, 50) if a["target"] == f"subscription {sid}"]
    assert entry["action"] == "websub remove" and entry["reason"] == "misbehaving reader"
    assert entry["actor"].startswith("cli")
    assert [r["reason"] for r in subscription_ends.ended(hub.ctx, topic=topic) if r["id"] == sid] == ["removed"]
    hub.publish(FEED, f"ops-{unique}")
    wait_for(lambda: hub.subs.received(f"ops-keep-{unique}"), timeout=15, what="the kept subscriber's content")
    assert hub.subs.received(f"ops-gone-{unique}") == []


def test_a_subscriber_that_answers_410_is_kept_as_gone(hub, unique):
    name, topic = f"ops-gone410-{unique}", hub.topic(FEED, "rss")
    cb = hub.subs.callback(name)
    assert hub.subscribe(topic, cb).status_code == 202
    hub.wait_active(topic, cb)
    hub.subs.content[name] = "410"
    hub.publish(FEED, f"ops-gone-{unique}")
    sid = subscriptions.sub_id(topic, cb)
    wait_for(lambda: [r["reason"] for r in subscription_ends.ended(hub.ctx, topic=topic) if r["id"] == sid] == ["gone"],
             timeout=20, what="the subscription kept as ended: gone")
    assert subscriptions.get(hub.ctx, sid) is None
