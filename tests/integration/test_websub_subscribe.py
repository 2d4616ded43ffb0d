"""Our own WebSub hub: subscribing, verification of intent, unsubscribing, and the hostile side.

Modelled on websub.rocks' hub tests 100-106 (the subscription half; distribution is in
test_websub_distribution.py), on real processes (tests/support/hub.py) with real subscribers.
"""

from __future__ import annotations

import time

import pytest

from syndication.delivery import records, subscriptions
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


def _record(hub, topic, callback):
    return subscriptions.get(hub.ctx, subscriptions.sub_id(topic, callback))


def test_subscribe_without_secret_is_verified_by_an_echoed_challenge(hub, unique):
    topic, cb = hub.topic("hubform", "atom"), hub.subs.callback(f"plain-{unique}")
    resp = hub.subscribe(topic, cb, **{"hub.lease_seconds": "3600"})
    assert resp.status_code == 202, resp.text
    hub.wait_active(topic, cb)
    (check,) = hub.subs.verifications(f"plain-{unique}")
    assert check["hub.mode"] == "subscribe" and check["hub.topic"] == topic
    assert check["hub.lease_seconds"] == "3600" and len(check["hub.challenge"]) >= 16
    rec = _record(hub, topic, cb)
    assert rec["lease_seconds"] == 3600 and rec["secret"] == "" and 3590 < rec["expires_at"] - time.time() <= 3600


def test_subscribe_with_secret_keeps_it_for_signing(hub, unique):
    topic, cb = hub.topic("hubform", "rss"), hub.subs.callback(f"secret-{unique}")
    assert hub.subscribe(topic, cb, **{"hub.secret": "s3cret-" + unique}).status_code == 202
    hub.wait_active(topic, cb)
    rec = _record(hub, topic, cb)
    assert rec["secret"] == "s3cret-" + unique
    assert rec["lease_seconds"] == int(hub.ctx.settings.websub_lease)  # none asked: the default


def test_unknown_parameters_are_ignored(hub, unique):
    topic, cb = hub.topic("hubform", "json"), hub.subs.callback(f"extra-{unique}")
    resp = hub.subscribe(topic, cb, **{"hub.foo": "bar", "utm_source": "x", "hub.lease_seconds": "120"})
    assert resp.status_code == 202, resp.text
    hub.wait_active(topic, cb)


def test_resubscribing_updates_the_subscription_and_never_duplicates_it(hub, unique):
    topic, cb = hub.topic("hubform", "atom"), hub.subs.callback(f"again-{unique}")
    assert hub.subscribe(topic, cb, **{"hub.secret": "first", "hub.lease_seconds": "600"}).status_code == 202
    hub.wait_active(topic, cb)
    total = hub.ctx.redis.zcard(hub.ctx.keys.websub_subs)
    assert hub.subscribe(topic, cb, **{"hub.secret": "second", "hub.lease_seconds": "900"}).status_code == 202
    wait_for(lambda: (r := _record(hub, topic, cb)) and r["secret"] == "second" and r["lease_seconds"] == 900,
             what="the second request applied")
    assert len(hub.subs.verifications(f"again-{unique}")) == 2
    assert hub.ctx.redis.zcard(hub.ctx.keys.websub_subs) == total
    assert subscriptions.active_ids(hub.ctx, "hubform", "atom", time.time()).count(
        subscriptions.sub_id(topic, cb)) == 1


def test_unsubscribe_is_verified_then_removes_the_subscription(hub, unique):
    topic, cb = hub.topic("hubform", "rss"), hub.subs.callback(f"leave-{unique}")
    assert hub.subscribe(topic, cb).status_code == 202
    hub.wait_active(topic, cb)
    assert hub.subscribe(topic, cb, mode="unsubscribe").status_code == 202
    wait_for(lambda: _record(hub, topic, cb) is None, what="the subscription removed")
    last = hub.subs.verifications(f"leave-{unique}")[-1]
    assert last["hub.mode"] == "unsubscribe" and "hub.lease_seconds" not in last
    assert subscriptions.sub_id(topic, cb) not in subscriptions.active_ids(hub.ctx, "hubform", "rss", time.time())
    again = hub.subscribe(topic, cb, mode="unsubscribe")
    assert again.status_code == 404 and again.json()["error"] == "not_subscribed"


@pytest.mark.parametrize("answer", ["wrong", "404"])
def test_a_callback_that_does_not_echo_the_challenge_is_never_subscribed(hub, unique, answer):
    name = f"deny-{answer}-{unique}"
    topic, cb = hub.topic("hubform", "atom"), hub.subs.callback(name)
    hub.subs.verify[name] = answer
    assert hub.subscribe(topic, cb).status_code == 202
    wait_for(lambda: _record(hub, topic, cb) is None, what="the request denied")
    # The denial is written before the outcome (delivery/hub.py): wait for the outcome too.
    (rec,) = wait_for(lambda: [r for r in records.for_partner(hub.ctx, subscriptions.sub_id(topic, cb))
                               if r["status"] != "pending"], what="the verification's outcome")
    assert len(hub.subs.verifications(name)) == 1  # denied at once: no retry
    assert rec["status"] == "cancelled" and rec["attempts"] == 1
    assert not hub.ctx.redis.zscore(hub.ctx.keys.deadletters, rec["id"])  # a stranger's callback: no dead letter


def test_a_verification_answered_5xx_is_retried(hub, unique):
    name = f"flaky-{unique}"
    topic, cb = hub.topic("hubform", "rss"), hub.subs.callback(name)
    hub.subs.verify[name] = "500-once"
    assert hub.subscribe(topic, cb).status_code == 202
    hub.wait_active(topic, cb, timeout=20)
    first, second = hub.subs.verifications(name)
    assert first["hub.challenge"] == second["hub.challenge"]


def test_an_older_request_verified_late_changes_nothing(hub, unique):
    """The latest request wins: the store's activation checks the request's token (real Redis)."""
    ctx, cb = hub.ctx, hub.subs.callback(f"race-{unique}")
    topic = hub.topic("hubform", "json")

    def req(token, secret):
        return subscriptions.Request("subscribe", topic, "hubform", "json", cb, "127.0.0.1", 60, secret,
                                     f"challenge-{token}", token)

    assert subscriptions.request(ctx, req("old", "a"), max_total=10**6, max_per_host=10**6) == "ok"
    assert subscriptions.request(ctx, req("new", "b"), max_total=10**6, max_per_host=10**6) == "ok"
    rec = subscriptions.get(ctx, subscriptions.sub_id(topic, cb))
    assert subscriptions.activate(ctx, rec, "old", time.time()) == "stale"
    assert not hub.active(topic, cb)
    assert subscriptions.activate(ctx, rec, "new", time.time()) == "subscribed"
    assert subscriptions.get(ctx, rec["id"])["secret"] == "b"
    assert subscriptions.deny(ctx, rec, "old", time.time()) == "stale" and hub.active(topic, cb)


@pytest.mark.parametrize("topic,problem", [
    ("https://elsewhere.example/feeds/hubform.atom", "unknown_topic"),
    ("{base}/feeds/nosuchfeed.atom", "unknown_topic"),
    ("{base}/feeds/hubform.xml", "unknown_topic"),
    ("", "invalid_request"),
])
def test_a_topic_that_is_not_ours_is_refused(hub, unique, topic, problem):
    resp = hub.subscribe(topic.format(base=hub.url), hub.subs.callback(f"topic-{unique}"))
    assert resp.status_code in (400, 404) and resp.json()["error"] == problem
    assert "hub.topic" in resp.json()["detail"]
    assert not hub.subs.verifications(f"topic-{unique}")


def test_a_feed_that_needs_a_key_is_no_topic(hub, unique):
    resp = hub.subscribe(hub.topic("hubkeyed", "atom"), hub.subs.callback(f"keyed-{unique}"))
    assert resp.status_code == 403 and resp.json()["error"] == "topic_refused", resp.text


def test_an_unsubscribed_subscribers_leftovers_are_swept(hub, unique):
    """Its circuit, slots and listing go once nothing of it is due or in flight (delivery/targets.py)."""
    topic, cb = hub.topic("hubform", "atom"), hub.subs.callback(f"gc-{unique}")
    assert hub.subscribe(topic, cb).status_code == 202
    hub.wait_active(topic, cb)
    sid, k = subscriptions.sub_id(topic, cb), hub.ctx.keys
    assert hub.ctx.redis.exists(k.partner_history(sid), k.partner_recent(sid)) == 2
    assert hub.subscribe(topic, cb, mode="unsubscribe").status_code == 202
    wait_for(lambda: not hub.ctx.redis.exists(k.websub_sub(sid), k.partner_history(sid), k.partner_recent(sid),
                                              k.partner_circuit(sid), k.partner_due(sid), k.partner_inflight(sid))
             and hub.ctx.redis.zscore(k.websub_busy, sid) is None, timeout=20, what="leftovers swept")


@pytest.mark.parametrize("form,needle", [
    ({"hub.mode": "publish"}, "hub.mode"),
    ({"hub.callback": "ftp://127.0.0.1/x"}, "hub.callback"),
    ({"hub.callback": ""}, "hub.callback"),
    ({"hub.lease_seconds": "ten"}, "hub.lease_seconds"),
    ({"hub.secret": "x" * 200}, "hub.secret"),
])
def test_a_malformed_request_is_refused_naming_the_parameter(hub, unique, form, needle):
    base = {"hub.mode": "subscribe", "hub.topic": hub.topic("hubform"), "hub.callback": hub.subs.callback(unique)}
    import requests

    resp = requests.post(f"{hub.url}/websub", data={**base, **form}, timeout=10)
    assert resp.status_code == 400 and needle in resp.json()["detail"], resp.text


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.0.0.7", "[::1]", "169.254.169.254"])
def test_loopback_and_private_callbacks_are_refused_unless_allowed(hub, unique, host):
    topic = f"{hub.strict_url}/feeds/hubform.atom"
    resp = hub.subscribe(topic, f"http://{host}:8080/cb/{unique}", url=hub.strict_url, client=f"192.0.2.{len(host)}")
    assert resp.status_code == 403 and resp.json()["error"] == "callback_refused", resp.text
    assert hub.strict_ctx.redis.zcard(hub.strict_ctx.keys.websub_subs) == 0


def test_a_flood_of_subscribe_requests_from_one_address_is_throttled(hub, unique):
    topic = f"{hub.strict_url}/feeds/hubform.atom"
    answers = [hub.subscribe(topic, f"http://127.0.0.1:9/cb/{unique}-{i}", url=hub.strict_url, client="203.0.113.9")
               for i in range(12)]
    codes = [r.status_code for r in answers]
    assert codes[:5] == [403] * 5 and set(codes[5:]) == {429}, codes  # 5 a minute: then throttled
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert "too many" in answers[-1].json()["detail"]
    other = hub.subscribe(topic, f"http://127.0.0.1:9/cb/{unique}-x", url=hub.strict_url, client="203.0.113.10")
    assert other.status_code == 403  # another address is not held back


def test_subscriptions_are_capped_per_callback_host_and_in_all(hub, unique):
    """The capped API: 2 per callback host, 3 in all (its subscriptions stay unverified: no workers)."""
    topic = f"{hub.capped_url}/feeds/hubcaps.atom"

    def sub(host, i):
        return hub.subscribe(topic, f"http://{host}:9/cb/{unique}-{i}", url=hub.capped_url, client=f"192.0.2.{i}")

    assert [sub("127.0.0.1", i).status_code for i in range(2)] == [202, 202]
    third = sub("127.0.0.1", 2)
    assert third.status_code == 429 and third.json()["error"] == "host_full" and "127.0.0.1" in third.json()["detail"]
    assert sub("localhost", 3).status_code == 202
    full = sub("127.0.0.2", 4)
    assert full.status_code == 429 and full.json()["error"] == "hub_full" and "3" in full.json()["detail"]
    assert sub("127.0.0.1", 0).status_code == 202  # an existing subscription is updated, never refused
    assert subscriptions.host_counts(hub.capped_ctx) == {"127.0.0.1": 2, "localhost": 1}
    assert subscriptions.topic_counts(hub.capped_ctx) == {topic: {"active": 0, "unverified": 3}}
