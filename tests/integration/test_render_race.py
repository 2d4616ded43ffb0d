"""Older feed bytes never overwrite newer ones, even when a render outlives its lock.

On a loaded feeds worker a render can wait past its 30 s lock; the sweeper
then queues a second render under a new lock, and the two may finish in either
order. And the render window is a key with a TTL: marks inside it queue nothing.
Called in-process against a real throwaway Redis (no Celery).
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


def test_a_render_whose_lock_changed_hands_writes_nothing_and_leaves_the_feed_dirty(ctx, monkeypatch):
    publish(ctx, "race-1")
    render_all = store.render_all

    def lock_taken_over(*args):  # while this render runs, its lock expires and another render takes one
        ctx.redis.set(ctx.keys.feed_render_lock("all"), "a-newer-render")
        return render_all(*args)

    monkeypatch.setattr(store, "render_all", lock_taken_over)
    outcome = store.render_feed(ctx, "all")
    monkeypatch.undo()
    assert outcome.changed == () and not ctx.redis.exists(ctx.keys.feed_rendered("all", "rss"))
    assert ctx.redis.zscore(ctx.keys.feeds_dirty, "all") is not None  # one more render will follow
    assert ctx.redis.get(ctx.keys.feed_render_lock("all")) == b"a-newer-render"  # not freed by us
    newer = store.render_feed(ctx, "all")  # the render that holds the lock
    assert set(newer.changed) == {"rss", "atom", "json"}
    assert b"race-1" in ctx.redis.hget(ctx.keys.feed_rendered("all", "rss"), "body")


def test_a_render_that_holds_its_lock_stores_and_frees_it(ctx):
    publish(ctx, "calm-1")
    outcome = store.render_feed(ctx, "all")
    assert set(outcome.changed) == {"rss", "atom", "json"}
    assert ctx.redis.get(ctx.keys.feed_render_lock("all")) is None


def test_no_render_is_queued_while_the_window_lives_and_the_first_mark_after_it_queues_one(ctx):
    """The render window is a key that expires, not a thread that sleeps: marks inside it only
    remember the feed is dirty; the first mark after it (the sweep's, say) takes the lock."""
    publish(ctx, "window-1")
    store.render_feed(ctx, "all")
    ttl = ctx.redis.pttl(ctx.keys.feed_render_window("all"))
    assert 0 < ttl <= ctx.settings.render_window * 1000
    publish(ctx, "window-2")  # inside the window: dirty, and no render queued
    assert ctx.redis.zscore(ctx.keys.feeds_dirty, "all") is not None
    assert not ctx.redis.exists(ctx.keys.feed_render_lock("all")) and index.orphaned_dirty(ctx) == []
    ctx.redis.delete(ctx.keys.feed_render_window("all"))  # the window expiring
    assert index.orphaned_dirty(ctx) == ["all"] and ctx.redis.exists(ctx.keys.feed_render_lock("all"))
    store.render_feed(ctx, "all")
    assert b"window-2" in ctx.redis.hget(ctx.keys.feed_rendered("all", "rss"), "body")
