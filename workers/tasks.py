"""Thin Celery tasks: each takes ids, calls the core, and queues the follow-up work.

Arguments are ids only (event id, feed name, partner id); the core re-reads
Redis, so a retried or replayed task sees current state.
"""

from __future__ import annotations

from syndication.pipeline import apply
from syndication.delivery import push
from syndication.feeds import store
from syndication.delivery import websub

from workers.app import app, context


def queue_followups(feeds=(), partners=(), events=()) -> None:
    for event_id in events:
        apply_event.apply_async((event_id,))
    for name in feeds:
        render_feed.apply_async((name,))
    for partner_id in partners:
        push_batch.apply_async((partner_id,))


@app.task(name="syndication.apply_event")
def apply_event(event_id: str) -> str:
    follow = apply.apply_or_park(context(), event_id)
    queue_followups(feeds=follow.feeds, partners=follow.partners)
    return follow.outcome


@app.task(name="syndication.render_feed")
def render_feed(name: str) -> list:
    ctx = context()
    outcome = store.render_feed(ctx, name)
    if outcome.again:
        render_feed.apply_async((name,))
    pings = websub.create_pings(ctx, name, outcome.changed, store.etags(ctx, name, outcome.changed))
    queue_followups(partners=apply.kick(ctx, pings))
    return list(outcome.changed)


@app.task(name="syndication.push_batch")
def push_batch(partner_id: str) -> dict:
    result = push.push_batch(context(), partner_id)
    if result.more_due:
        queue_followups(partners=apply.kick(context(), [partner_id]))
    return result.outcomes
