"""No poison pills in the event pipeline, called in-process against a real throwaway Redis.

An event that keeps failing to apply is parked as a dead event after
MAX_APPLY_FAILURES attempts (visible in status, replayable), instead of being
re-driven every second forever; and a Redis that refuses a command is a 500
with a clean body, while a Redis that is gone is a 503 with Retry-After.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
import redis
from fastapi.testclient import TestClient
from pytest_redis import factories

from syndication.articles import ArticleStore
from syndication.pipeline import apply, dead_events
from syndication.pipeline import ingest
from syndication.ops import status
from syndication.api.app import create_app
from syndication.infra.context import Context
from syndication.configuration import load_settings
from tests.conftest import REDIS_BIN
from tests.support.events import article_event

pytestmark = pytest.mark.integration
# Its own redis-server: these tests fill it up and stop it.
own_redis = factories.redis_proc(executable=REDIS_BIN, port=None)


@pytest.fixture
def ctx(redis_url) -> Context:
    env = {"SYNDICATION_REDIS_URL": redis_url, "SYNDICATION_KEY_PREFIX": f"p{uuid.uuid4().hex[:6]}:"}
    return Context.build(load_settings(env))


def store_broken_event(ctx: Context, event_id: str) -> None:
    """An accepted event whose stored body the current code cannot apply."""
    ingest.accept(ctx, json.dumps(article_event(f"a-{event_id}", event_id=event_id)).encode(), lambda _: None)
    ctx.redis.hset(ctx.keys.event(event_id), "body", json.dumps({"type": "article.published", "article": {}}))


def test_a_failing_event_is_parked_after_max_attempts(ctx):
    store_broken_event(ctx, "evt-poison")
    outcomes = [apply.apply_or_park(ctx, "evt-poison").outcome for _ in range(dead_events.MAX_APPLY_FAILURES)]
    assert outcomes == ["failed"] * (dead_events.MAX_APPLY_FAILURES - 1) + ["dead"]
    assert ctx.redis.zscore(ctx.keys.events_pending, "evt-poison") is None  # never re-driven again
    assert ingest.due(ctx) == []
    [dead] = dead_events.dead_events(ctx)
    assert (dead["event_id"], dead["failures"]) == ("evt-poison", dead_events.MAX_APPLY_FAILURES)
    assert "KeyError" in dead["last_error"]
    assert status.status(ctx)["dead_events"] == 1
    assert ctx.redis.ttl(ctx.keys.event("evt-poison")) == -1  # kept until replayed, like a dead letter


def test_a_replayed_dead_event_is_applied_after_the_fix(ctx):
    store_broken_event(ctx, "evt-fixed")
    for _ in range(dead_events.MAX_APPLY_FAILURES):
        apply.apply_or_park(ctx, "evt-fixed")
    good = article_event("a-evt-fixed", event_id="evt-fixed")
    ctx.redis.hset(ctx.keys.event("evt-fixed"), "body", json.dumps(good))  # the fix
    assert dead_events.replay_dead(ctx, "evt-fixed")
    assert ingest.due(ctx, 30) == ["evt-fixed"]  # overdue: the next sweep re-drives it at once
    assert apply.apply_or_park(ctx, "evt-fixed").outcome == "applied"
    assert ArticleStore.of(ctx).get("a-evt-fixed").version == 1
    assert dead_events.dead_events(ctx) == [] and not dead_events.replay_dead(ctx, "evt-fixed")


def test_an_overdue_event_is_redriven_once_per_window(ctx):
    ingest.accept(ctx, json.dumps(article_event("slow", event_id="evt-slow")).encode(), lambda _: None)
    ctx.redis.zadd(ctx.keys.events_pending, {"evt-slow": time.time() - 60})
    ctx.redis.delete(ctx.keys.events_kick)  # the batch it queued was lost
    assert ingest.kick(ctx, older_than=30)
    assert not ingest.kick(ctx, older_than=30)  # not again on the next sweep: a backlog is not flooded
    ctx.redis.set(ctx.keys.events_kick, time.time() - 31)  # that batch never started either
    assert ingest.kick(ctx, older_than=30)


def test_a_batch_claims_events_until_their_claim_runs_out(ctx):
    for i in range(3):
        ingest.accept(ctx, json.dumps(article_event(f"claim-{i}", event_id=f"evt-claim-{i}")).encode(),
                      lambda _: None)
    assert ingest.claim(ctx, 2) == ["evt-claim-0", "evt-claim-1"]  # oldest first
    assert ingest.claim(ctx, 5) == ["evt-claim-2"]  # a second batch takes only what is left
    assert ingest.claim(ctx, 5) == []
    redrive = ctx.settings.event_redrive_after
    assert ingest.due(ctx, -redrive - 1) == [f"evt-claim-{i}" for i in range(3)]  # due again then


def test_redis_refusing_a_command_is_500_and_redis_gone_is_503(own_redis):
    url = f"redis://127.0.0.1:{own_redis.port}/0"
    settings = load_settings({"SYNDICATION_REDIS_URL": url, "SYNDICATION_API_KEYS": "k"})
    # One event loop for every request, as a server has (the API stores events on asyncio Redis).
    with TestClient(create_app(settings, enqueue=lambda _: None), raise_server_exceptions=False) as client:
        headers = {"Authorization": "Bearer k", "Content-Type": "application/json"}
        body = json.dumps(article_event("full")).encode()
        raw = redis.Redis(port=own_redis.port)
        raw.config_set("maxmemory-policy", "noeviction")
        raw.config_set("maxmemory", 1)
        try:
            resp = client.post("/v1/events", content=body, headers=headers)
            assert resp.status_code == 500 and resp.json()["error"] == "internal_error", resp.text
            assert "Retry-After" not in resp.headers  # retrying the same request would not help
        finally:
            raw.config_set("maxmemory", 0)
        assert client.post("/v1/events", content=body, headers=headers).status_code == 202
        own_redis.stop()
        resp = client.post("/v1/events", content=body, headers=headers)
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "1", resp.text
        ready = client.get("/readyz")
        assert ready.status_code == 503 and str(own_redis.port) not in ready.text and "127.0.0.1" not in ready.text


def test_feed_keys_are_trimmed_like_every_other_key(redis_url, tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {name: inside, title: Inside, access: partner}\n")
    env = {"SYNDICATION_REDIS_URL": redis_url, "SYNDICATION_KEY_PREFIX": f"f{uuid.uuid4().hex[:6]}:",
           "SYNDICATION_FEED_KEYS": " first-key , second-key ", "SYNDICATION_FEEDS_FILE": str(feeds)}
    with TestClient(create_app(load_settings(env), enqueue=lambda _: None)) as client:  # one loop
        for key in ("first-key", "second-key"):
            resp = client.get("/feeds/inside.rss", headers={"Authorization": f"Bearer {key}"})
            assert resp.status_code == 503, resp.text  # past the key check: only "not rendered yet"
        assert client.get("/feeds/inside.rss", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_dead_events_show_on_the_ops_page_and_replay_from_it(service, unique):
    from tests.conftest import OPS_KEY
    from tests.support.processes import wait_for

    ctx, event_id = service.ctx, f"evt-dead-{unique}"
    store_broken_event(ctx, event_id)
    for _ in range(dead_events.MAX_APPLY_FAILURES):
        apply.apply_or_park(ctx, event_id)
    ops = {"Authorization": f"Bearer {OPS_KEY}"}
    page = requests.get(f"{service.api_url}/ops", headers=ops, timeout=10).text
    assert "<div id=dead-events>" in page and event_id in page and "KeyError" in page
    good = article_event(f"a-{event_id}", event_id=event_id)
    ctx.redis.hset(ctx.keys.event(event_id), "body", json.dumps(good))  # the fix
    resp = requests.post(f"{service.api_url}/ops/replay-event/{event_id}", headers=ops, timeout=10,
                         allow_redirects=False)
    assert resp.status_code == 303 and "replayed" in resp.headers["location"]
    wait_for(lambda: (s := ArticleStore.of(ctx).get(f"a-{event_id}")) and s.version == 1, timeout=15,
             what="the replayed event applied by the running workers")
    assert event_id not in requests.get(f"{service.api_url}/ops", headers=ops, timeout=10).text.split("<div id=dead-events>")[1].split("<div id=")[0]
