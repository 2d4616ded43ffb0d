"""Our own WebSub hub's pure parts: which hub feeds advertise, lease bounds, topics, the subscriber targets.

Pure logic: settings from a dict (no Redis), the hub's helpers on their own.
"""

from __future__ import annotations

import pytest

from syndication.configuration import load_settings
from syndication.delivery import hub, subscriptions
from syndication.delivery.decide import Decision
from syndication.delivery.lifecycle import DeliveryStatus
from syndication.delivery.model import HUB_CONTENT, Delivery, Subject
from syndication.delivery.outcome import Outcome
from syndication.delivery.targets import GONE_URL, subscriber
from syndication.errors import ConfigError
from syndication.partners.target import SUBSCRIBERS, is_subscriber, metric_id

BASE = {"SYNDICATION_BASE_URL": "https://news.example/"}


def test_our_own_hub_is_the_default_an_external_one_is_pinged_and_off_is_none():
    own = load_settings(BASE)
    assert own.websub_hub == "https://news.example/websub" and own.websub_own_hub and own.websub_target is None
    external = load_settings({**BASE, "SYNDICATION_WEBSUB_HUB": "https://hub.example/"})
    assert external.websub_hub == "https://hub.example/" and not external.websub_own_hub
    assert external.websub_target.url == "https://hub.example/"  # pinged through the delivery engine
    off = load_settings({**BASE, "SYNDICATION_WEBSUB_HUB": "off"})
    assert off.websub_hub is None and not off.websub_own_hub and off.websub_target is None
    spelled = load_settings({**BASE, "SYNDICATION_WEBSUB_HUB": "https://news.example/websub"})
    assert spelled.websub_own_hub and spelled.websub_target is None  # our own, written out: not pinged


def test_hub_settings_are_read_and_checked():
    s = load_settings({"SYNDICATION_WEBSUB_MAX_PER_HOST": "7", "SYNDICATION_WEBSUB_LEASE": "2h",
                       "SYNDICATION_WEBSUB_ALLOW_PRIVATE_CALLBACKS": "yes"})
    assert s.websub_max_per_host == 7 and s.websub_lease == 7200 and s.websub_allow_private_callbacks
    assert not load_settings({}).websub_allow_private_callbacks  # refused unless configured
    with pytest.raises(ConfigError, match="SYNDICATION_WEBSUB_ALLOW_PRIVATE_CALLBACKS"):
        load_settings({"SYNDICATION_WEBSUB_ALLOW_PRIVATE_CALLBACKS": "maybe"})
    with pytest.raises(ConfigError, match="SYNDICATION_WEBSUB_MIN_LEASE"):
        load_settings({"SYNDICATION_WEBSUB_MIN_LEASE": "40d"})


def test_a_partner_may_not_take_a_subscribers_id(tmp_path):
    path = tmp_path / "partners.yaml"
    path.write_text("partners:\n  - {id: ws-abc, url: 'http://127.0.0.1:9/in', allow_private_network: true}\n")
    with pytest.raises(ConfigError, match="reserved"):
        load_settings({"SYNDICATION_PARTNERS_FILE": str(path)})


def test_subscription_ids_are_stable_per_topic_and_callback_and_valid_target_ids():
    a = subscriptions.sub_id("https://n.example/feeds/all.atom", "https://r.example/cb")
    assert a == subscriptions.sub_id("https://n.example/feeds/all.atom", "https://r.example/cb")
    assert a != subscriptions.sub_id("https://n.example/feeds/all.rss", "https://r.example/cb")
    assert is_subscriber(a) and len(a) == 27
    target = subscriber(a, "https://r.example/cb", False, 8)
    assert target.id == a and target.max_in_flight == 1 and target.retry.max_attempts == 8
    assert subscriber(a, "https://user@r.example/cb", False, 8).url == GONE_URL  # no longer a valid URL
    assert metric_id(a) == SUBSCRIBERS and metric_id("kazinform") == "kazinform"


def test_topic_parts():
    assert hub.topic_parts("https://n.example/base/feeds/top-news.json") == ("top-news", "json")


def _content(etag: str) -> Delivery:
    return Delivery(id="msg_x", partner="ws-1", subject=Subject(HUB_CONTENT, "https://n.example/feeds/all.atom"),
                    event_id=etag, event_type="websub.content", status=DeliveryStatus.PENDING)


def test_content_goes_only_to_a_live_subscription_and_only_at_the_current_etag():
    live = {"state": "active", "expires_at": 2000.0}
    data = {"subs": {"ws-1": live}, "feeds": {("all", "atom"): {"etag": '"b"'}}}
    assert hub.superseded(_content('"b"'), data, now=1000.0) is None
    assert hub.superseded(_content('"a"'), data, now=1000.0) is DeliveryStatus.SUPERSEDED
    assert hub.superseded(_content('"b"'), data, now=2000.0) is DeliveryStatus.CANCELLED  # lease ended
    data["subs"]["ws-1"] = None
    assert hub.superseded(_content('"b"'), data, now=1000.0) is DeliveryStatus.CANCELLED  # unsubscribed


def test_a_subscribers_failure_is_cancelled_never_a_dead_letter():
    dead = Decision(DeliveryStatus.DEAD, "dead", Outcome.PERMANENT)
    settled = hub.settle(None, _content('"b"'), {"subs": {}}, dead, 0.0)
    assert settled.status is DeliveryStatus.CANCELLED and settled.result == "cancelled"
    retry = Decision(DeliveryStatus.RETRYING, "retry", Outcome.RETRY, due_at=5.0)
    assert hub.settle(None, _content('"b"'), {"subs": {}}, retry, 0.0) is retry
