"""A service of its own for the WebSub hub tests (the `hub` fixture, tests/integration/conftest.py).

Real processes on the session's throwaway redis-server with a key prefix of their own: the API
and the events, feeds and deliveries workers, no SYNDICATION_WEBSUB_HUB (so our own hub is the
one advertised), private callbacks allowed (the subscribers listen on 127.0.0.1), leases from 1 s,
renders not held back. Plus two APIs of their own on the same Redis (own key prefixes, no workers)
for the hostile tests: `strict`, with the defaults a deployment has (private callbacks refused) and a
rate limit of 5 requests a minute, and `capped`, with caps of 2 subscriptions per callback host
and 3 in all.

Feeds, each on a category of its own, so each test's changes reach only its own subscribers:
hubnews (category HubNews), hubsolo (HubSolo), hubwide (HubWide),
hubslow (HubSlow), hubcaps (HubCaps), hubform (HubForm), hubflood (HubFlood), hubops (the ops tests,
test_websub_ops.py); and hubkeyed, a feed that needs a partner key. One partner, `hubdesk`, takes json
pushes of its own category. /ops takes OPS_KEY.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from syndication.configuration import load_settings
from syndication.delivery import subscriptions
from syndication.infra.context import Context
from tests.conftest import OPS_KEY
from tests.support.events import article_event
from tests.support.processes import api, free_port, private_env, running, wait_for, worker
from tests.support.receiver import Receiver
from tests.support.subscriber import Subscribers

KEY = "hub-publisher-key"
FEEDS = ["hubnews", "hubsolo", "hubwide", "hubslow", "hubcaps", "hubform", "hubflood", "hubops"]
PARTNER = "hubdesk"  # a partner (json pushes) of category Cathubdesk: the hub's subscribers must not delay it


def category(feed: str) -> str:
    return "Cat" + feed


@dataclass
class Hub:
    url: str
    ctx: Context
    subs: Subscribers
    partner: Receiver
    strict_url: str = ""
    strict_ctx: Context | None = None
    capped_url: str = ""
    capped_ctx: Context | None = None

    def topic(self, feed: str, fmt: str = "atom") -> str:
        return f"{self.url}/feeds/{feed}.{fmt}"

    def subscribe(self, topic: str, callback: str, *, url: str | None = None, client: str = "198.51.100.1",
                  mode: str = "subscribe", **extra: str) -> requests.Response:
        form = {"hub.mode": mode, "hub.topic": topic, "hub.callback": callback, **extra}
        return requests.post(f"{url or self.url}/websub", data=form, timeout=10,
                             headers={"X-Forwarded-For": client})

    def active(self, topic: str, callback: str, ctx: Context | None = None) -> bool:
        rec = subscriptions.get(ctx or self.ctx, subscriptions.sub_id(topic, callback))
        return subscriptions.is_live(rec, time.time())

    def wait_active(self, topic: str, callback: str, timeout: float = 15.0) -> None:
        wait_for(lambda: self.active(topic, callback), timeout=timeout, what=f"{callback} active on {topic}")

    def publish(self, feed: str, article_id: str, version: int = 1) -> float:
        """Post a story to `feed`'s category; returns when it was posted (time.time())."""
        at = time.time()
        resp = requests.post(f"{self.url}/v1/events", json=article_event(article_id, version,
                                                                          categories=[category(feed)]),
                             headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
        assert resp.status_code == 202, resp.text
        return at


def start(redis_url: str, tmp: Path):
    """Start the hub's processes; yields the Hub, stops everything after."""
    subs, partner = Subscribers.start(), Receiver.start()
    partners_file, feeds_file = tmp / "partners.yaml", tmp / "feeds.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": [
        {"id": PARTNER, "url": partner.url, "format": "json", "allow_private_network": True,
         "filters": {"categories": [category(PARTNER)]}}]}))
    feeds_file.write_text(yaml.safe_dump({"feeds": [
        {"name": f, "title": f"Hub test {f}", "filters": {"categories": [category(f)]}} for f in FEEDS] + [
        {"name": "hubkeyed", "title": "Partners only", "access": "partner"}]}))
    port, strict_port = free_port(), free_port()
    env = private_env(redis_url, port, partners_file, "hub", feeds_file=feeds_file, SYNDICATION_API_KEYS=KEY,
                      SYNDICATION_RENDER_WINDOW="0", SYNDICATION_WEBSUB_ALLOW_PRIVATE_CALLBACKS="true",
                      SYNDICATION_WEBSUB_MIN_LEASE="1", SYNDICATION_WEBSUB_SUBSCRIBE_RATE="1000",
                      SYNDICATION_WEBSUB_MAX_ATTEMPTS="3", FORWARDED_ALLOW_IPS="127.0.0.1",
                      SYNDICATION_OPS_KEYS=OPS_KEY)
    # The strict API: what a deployment runs (private callbacks refused), tiny caps and rate, its own keys.
    strict = private_env(redis_url, strict_port, partners_file, "hubstrict", feeds_file=feeds_file,
                         SYNDICATION_API_KEYS=KEY, SYNDICATION_WEBSUB_SUBSCRIBE_RATE="5",
                         SYNDICATION_WEBSUB_MAX_PER_HOST="2", SYNDICATION_WEBSUB_MAX_SUBSCRIPTIONS="3",
                         FORWARDED_ALLOW_IPS="127.0.0.1")
    # The capped API: private callbacks allowed, caps of 2 per host and 3 in all (no workers: nothing verified).
    capped_port = free_port()
    capped = private_env(redis_url, capped_port, partners_file, "hubcapped", feeds_file=feeds_file,
                         SYNDICATION_API_KEYS=KEY, SYNDICATION_WEBSUB_ALLOW_PRIVATE_CALLBACKS="true",
                         SYNDICATION_WEBSUB_MAX_PER_HOST="2", SYNDICATION_WEBSUB_MAX_SUBSCRIPTIONS="3")
    for name in ("strict", "capped"):
        (tmp / name).mkdir(exist_ok=True)
    procs = [api(env, tmp, port), worker("events", env, tmp), worker("feeds", env, tmp),
             worker("deliveries", env, tmp), api(strict, tmp / "strict", strict_port),
             api(capped, tmp / "capped", capped_port)]
    with running(procs, receivers=[subs, partner]):
        yield Hub(f"http://127.0.0.1:{port}", Context.build(load_settings(env)), subs, partner,
                  f"http://127.0.0.1:{strict_port}", Context.build(load_settings(strict)),
                  f"http://127.0.0.1:{capped_port}", Context.build(load_settings(capped)))
