"""The sweeper: finds work whose task was lost and hands it back, once a second.

Run by beat (`syndication.sweep`). It never does the work itself; it returns
what must be (re-)queued:

- accepted events not applied after `event_redrive_after` seconds
  (the apply task was lost with its worker, or never sent);
- dirty feeds with no render queued (the render lock expired), and feeds
  never rendered or whose definition changed in the feeds file;
- deliveries whose lease expired (their worker died mid-push) go back to
  due; every partner with due deliveries and no queued push gets one
  (this is also what pumps scheduled retries when they come due).

A lock makes a second beat, started by mistake, a no-op instead of double work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from syndication.pipeline import ingest
from syndication.infra import metrics
from syndication.pipeline.apply import kick
from syndication.infra.context import Context
from syndication.delivery import schedule
from syndication.feeds import index

SWEEP_LOCK_MS = 900


@dataclass
class Sweep:
    ran: bool
    events: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)
    expired_leases: int = 0


def sweep(ctx: Context, now: float | None = None) -> Sweep:
    if not ctx.redis.set(ctx.keys.sweep_lock, 1, nx=True, px=SWEEP_LOCK_MS):
        metrics.inc(ctx.redis, ctx.keys, "sweeps", outcome="skipped")
        return Sweep(ran=False)
    metrics.inc(ctx.redis, ctx.keys, "sweeps", outcome="ran")
    now = now or time.time()
    out = Sweep(ran=True)
    out.events = ingest.overdue(ctx, ctx.settings.event_redrive_after)
    # New or edited feeds (re)render on start; then dirty feeds whose render task was lost.
    out.feeds = index.mark_dirty(ctx, index.stale_definitions(ctx)) + index.orphaned_dirty(ctx)
    due = []
    for partner in ctx.settings.push_targets:
        out.expired_leases += schedule.expire_leases(ctx, partner.id, now)
        if schedule.due_count(ctx, partner.id, now):
            due.append(partner.id)
    out.partners = kick(ctx, due)
    return out
