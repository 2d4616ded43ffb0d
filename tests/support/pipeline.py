"""The in-process pipeline tests' world and helpers (apply, push, schedule, sweeper, status).

Their fixtures (`receiver`, `ctx`) live in tests/integration/conftest.py; this module holds
what those fixtures build and what the tests call. Each test gets a Context on the session's
throwaway redis-server (`redis_url`) with a key prefix of its own, and a real partner server
(Receiver) on 127.0.0.1. No Celery, no API process: the pipeline functions are called
directly and their FollowUp is inspected instead of being dispatched.

Partners (all point at the one Receiver; requests tell them apart by webhook-id):

    wire     every article, Standard Webhooks signed, batches of 2
    economy  articles in category Economy
    sport    articles in category Sport

Feeds: all, economy (category Economy), sport (category Sport). The example
article (tests/support/events.py) is in Economy, so by default it reaches
wire and economy, and the feeds all and economy.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import yaml

from syndication.articles import ArticleStore
from syndication.configuration import load_settings
from syndication.delivery import records
from syndication.delivery.model import ARTICLE, Subject
from syndication.infra.context import Context
from syndication.pipeline import apply, ingest
from syndication.pipeline.followup import FollowUp
from syndication.text import clean_article
from tests.support import config
from tests.support.events import article_event

WIRE_SECRET = config.secret("pipeline-wire")
PARTNERS = ("wire", "economy", "sport")
FEEDS = [
    {"name": "all", "title": "All news"},
    {"name": "economy", "title": "Economy", "filters": {"categories": ["Economy"]}},
    {"name": "sport", "title": "Sport", "filters": {"categories": ["Sport"]}},
]


def pipeline_context(redis_url: str, tmp_path: Path, partner_url: str) -> Context:
    """A Context with the three partners above, all at `partner_url`, under a fresh key prefix."""
    partners = [
        {"id": "wire", "url": partner_url, "format": "json", "allow_private_network": True, "batch_size": 2,
         "auth": {"type": "standard-webhooks", "secret_env": "WIRE_SECRET"}},
        {"id": "economy", "url": partner_url, "format": "json", "allow_private_network": True,
         "filters": {"categories": ["Economy"]}},
        {"id": "sport", "url": partner_url, "format": "json", "allow_private_network": True,
         "filters": {"categories": ["Sport"]}},
    ]
    partners_file, feeds_file = tmp_path / "partners.yaml", tmp_path / "feeds.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": partners}))
    feeds_file.write_text(yaml.safe_dump({"feeds": FEEDS}))
    env = {
        "SYNDICATION_REDIS_URL": redis_url,
        "SYNDICATION_KEY_PREFIX": f"q{uuid.uuid4().hex[:6]}:",  # one word and a colon (key-family test)
        "SYNDICATION_PARTNERS_FILE": str(partners_file),
        "SYNDICATION_FEEDS_FILE": str(feeds_file),
        "WIRE_SECRET": WIRE_SECRET,
    }
    return Context.build(load_settings(env))


def accept(ctx: Context, event: dict) -> list[FollowUp]:
    """ingest.accept the event; return what it enqueued."""
    sent: list[FollowUp] = []
    ingest.accept(ctx, json.dumps(event).encode(), sent.append)
    return sent


def publish(ctx: Context, event: dict) -> FollowUp:
    """Accept and apply the event, as the API and an events worker would."""
    accept(ctx, event)
    return apply.apply_event(ctx, event["event_id"])


def due_delivery(ctx: Context, partner_id: str, article_id: str, version: int = 1, **article) -> str:
    """Article state at `version` and one due delivery of it to one partner, without fan-out."""
    ev = article_event(article_id, version, **article)
    ArticleStore.of(ctx).apply(article_id, version, clean_article(ev["article"]), withdrawn=False,
                       event_id=ev["event_id"], now=time.time())
    did = records.create(ctx, partner_id, Subject(ARTICLE, article_id, version), ev["event_id"], ev["type"],
                         occurred_at=ev["occurred_at"])
    assert did is not None
    return did


def status(ctx: Context, did: str) -> str | None:
    rec = records.get(ctx, did)
    return rec["status"] if rec else None


def due(ctx: Context, partner_id: str) -> dict[str, float]:
    return {m.decode(): s for m, s in ctx.redis.zrange(ctx.keys.partner_due(partner_id), 0, -1, withscores=True)}


def inflight(ctx: Context, partner_id: str) -> dict[str, float]:
    return {m.decode(): s for m, s in
            ctx.redis.zrange(ctx.keys.partner_inflight(partner_id), 0, -1, withscores=True)}
