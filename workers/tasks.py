"""Thin Celery tasks: each takes ids, runs one pipeline step, and dispatches its FollowUp.

Arguments are ids only (event id, feed name, partner id); the core re-reads
Redis, so a retried or replayed task sees current state. Each task runs on one
settings snapshot (`context().pinned()`): a reload meanwhile publishes the next
one for the next task, so one batch never fans out half under old partners. `dispatch` is the
one place a FollowUp becomes Celery messages; the API enqueues accepted
events through it too (cli.build_api).
"""

from __future__ import annotations

from syndication.pipeline import apply, batch, steps
from syndication.pipeline.followup import FollowUp
from workers.app import app, context


def dispatch(follow: FollowUp) -> None:
    if follow.events:  # the batch claims them (and any others due) from events:pending
        apply_events.apply_async()
    for name in follow.feeds:
        render_feed.apply_async((name,))
    # follow.partners are marked ready in Redis already: the deliveries workers' engines take them.


@app.task(name="syndication.apply_events")
def apply_events() -> str:
    follow = batch.apply_batch(context().pinned())
    dispatch(follow)
    return follow.outcome


@app.task(name="syndication.apply_event")
def apply_event(event_id: str) -> str:
    """One event (messages queued before batches existed still drain after an upgrade)."""
    follow = apply.apply_or_park(context().pinned(), event_id)
    dispatch(follow)
    return follow.outcome


@app.task(name="syndication.render_feed")
def render_feed(name: str) -> str:
    follow = steps.render_feed(context().pinned(), name)
    dispatch(follow)
    return follow.outcome

