"""An apply batch: one Celery task claims many accepted events and applies them together.

    followup = apply_batch(ctx)   # claim up to APPLY_BATCH due events (oldest first), apply them
    followup.feeds                # feed names whose render must be queued (lock taken)
    followup.partners             # partners with new due deliveries (marked ready, once per batch)
    followup.events               # non-empty: more events wait, queue another batch (marker taken)

A batch drains `events:pending` the way a push batch drains a partner's due deliveries. Its
events go through apply.py's one path together; a failed event is counted and, if it keeps
failing, parked (dead_events.py), and the others go on.
"""

from __future__ import annotations

from syndication.delivery import schedule
from syndication.infra.context import Context
from syndication.pipeline import apply, ingest
from syndication.pipeline.followup import FollowUp

APPLY_BATCH = 200  # events per batch: big enough to amortise a task, small enough to spread over threads


def apply_batch(ctx: Context, limit: int = APPLY_BATCH) -> FollowUp:
    """Apply up to `limit` due events (oldest first); one event failing does not stop the others."""
    ingest.start_batch(ctx)
    ids = ingest.claim(ctx, limit)
    applied = apply.apply_events(ctx, ids, park=True)
    out = FollowUp(outcome=applied.summary(), feeds=applied.feeds, partners=schedule.mark_ready(ctx, applied.partners))
    if ids:
        waiting = ingest.due(ctx, limit=1)
        if waiting and ingest.kick(ctx):
            out.events = waiting
    return out
