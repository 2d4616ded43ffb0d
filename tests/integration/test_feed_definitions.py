"""Editing the feeds file and restarting: affected feeds are rebuilt from article state and re-rendered."""

from __future__ import annotations

import feedparser
import pytest
import yaml

from syndication.articles import ArticleStore
from syndication.infra.context import Context
from syndication.feeds import index
from syndication.feeds import store
from syndication.configuration import load_settings
from syndication.text import clean_article
from tests.support.events import article_event

pytestmark = pytest.mark.integration


def settings(redis_url, tmp_path, prefix, categories):
    f = tmp_path / f"feeds-{'-'.join(categories)}.yaml"
    f.write_text(yaml.safe_dump({"feeds": [{"name": "desk", "filters": {"categories": categories}}]}))
    return load_settings({"SYNDICATION_REDIS_URL": redis_url, "SYNDICATION_KEY_PREFIX": prefix,
                              "SYNDICATION_FEEDS_FILE": str(f), "SYNDICATION_RENDER_WINDOW": "0"})


def titles(ctx) -> set[str]:
    return {e.title for e in feedparser.parse(ctx.redis.hget(ctx.keys.feed_rendered("desk", "rss"), "body")).entries}


def test_changed_filters_rebuild_and_rerender(redis_url, tmp_path, unique):
    prefix = f"defs-{unique}:"
    before = Context.build(settings(redis_url, tmp_path, prefix, ["Economy"]))
    for i, cat in enumerate(["Economy", "Sport", "Sport"]):
        ev = article_event(f"d{i}", categories=[cat])
        state_args = ev["article"]
        ArticleStore.of(before).apply(state_args["id"], 1, clean_article(state_args), withdrawn=False,
                              event_id=ev["event_id"], now=0)
        index.place(before, ArticleStore.of(before).get(state_args["id"]))
    assert index.stale_definitions(before) == ["desk"]  # never rendered
    store.render_feed(before, "desk")
    assert titles(before) == {"Headline d0 v1"} and index.stale_definitions(before) == []

    after = Context.build(settings(redis_url, tmp_path, prefix, ["Sport"]))  # the edited file, "restarted"
    assert index.stale_definitions(after) == ["desk"]
    outcome = store.render_feed(after, "desk")
    assert set(outcome.changed) == {"rss", "atom", "json"}
    assert titles(after) == {"Headline d1 v1", "Headline d2 v1"}
