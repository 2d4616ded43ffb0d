"""Older feed bytes never overwrite newer ones, even when a render outlives its lock.

On a loaded feeds worker a render can wait past its 30 s lock; the sweeper
then queues a second render under a new lock, and the two may finish in either
order. Called in-process against a real throwaway Redis (no Celery).
"""

from __future__ import annotations

import time
import uuid

import pytest

from syndication.articles import ArticleStore
from syndication.configuration import load_settings
from syndication.feeds import index, store
from syndication.infra.context import Context
from tests.support.events import article_event

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx(redis_url) -> Context:
    env = {"SYNDICATION_REDIS_URL": redis_url, "SYNDICATION_KEY_PREFIX": f"r{uuid.uuid4().hex[:6]}:"}
    return Context.build(load_settings(env))


def publish(ctx: Context, article_id: str) -> None:
    data = article_event(article_id)["article"]
    ArticleStore.of(ctx).apply(article_id, 1, data, withdrawn=False, event_id=f"evt-{article_id}", now=time.time())
    index.mark_dirty(ctx, index.place(ctx, ArticleStore.of(ctx).get(article_id)))


def test_a_render_whose_lock_changed_hands_writes_nothing_and_leaves_the_feed_dirty(ctx):
    publish(ctx, "race-1")
    ctx.redis.hset(ctx.keys.feed_stats("all"), "last_render_at", time.time())  # inside the window: it waits

    def lock_taken_over(_seconds):  # while this render waits, its lock expires and another render takes one
        ctx.redis.set(ctx.keys.feed_render_lock("all"), "a-newer-render")

    outcome = store.render_feed(ctx, "all", sleep=lock_taken_over)
    assert outcome.changed == () and store.fetch(ctx, "all", "rss") is None
    assert ctx.redis.zscore(ctx.keys.feeds_dirty, "all") is not None  # one more render will follow
    assert ctx.redis.get(ctx.keys.feed_render_lock("all")) == b"a-newer-render"  # not freed by us
    newer = store.render_feed(ctx, "all", sleep=lambda _: None)  # the render that holds the lock
    assert set(newer.changed) == {"rss", "atom", "json"} and b"race-1" in store.fetch(ctx, "all", "rss").body


def test_a_render_that_holds_its_lock_stores_and_frees_it(ctx):
    publish(ctx, "calm-1")
    outcome = store.render_feed(ctx, "all", sleep=lambda _: None)
    assert set(outcome.changed) == {"rss", "atom", "json"}
    assert ctx.redis.get(ctx.keys.feed_render_lock("all")) is None
