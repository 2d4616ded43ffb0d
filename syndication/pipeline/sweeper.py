"""The sweeper: finds work whose task was lost and hands it back, once a second.

Run by every worker process's housekeeping loop (ops/housekeeping.py). It never does the work itself; it returns
what must be (re-)queued, as a FollowUp:

- accepted events due for a whole sweep with no batch taking them (the batch
  message was lost, or a claim ran out because its worker died): one apply
  batch is queued, and another every EVENT_KICK_WINDOW while none starts;
- dirty feeds with no render queued once their render window has expired (the
  trailing render of a burst, feeds/index.py) or their render lock has (a lost
  render), and feeds never rendered or whose definition changed in the feeds file;
- embargoed articles whose instant has come are released (embargo.py: the one
  piece of work the sweep does itself, a transaction per article);
- deliveries whose lease expired (their worker died mid-push) go back to
  due; every partner with due deliveries and no queued push gets one
  (this is also what pumps scheduled retries when they come due), our WebSub
  hub's subscribers included (through their index of busy ones);
- WebSub subscriptions whose lease ended are expired.

A lock lets one sweep run per second however many workers try: the others skip.
"""

from __future__ import annotations

import time

from syndication.delivery import schedule, subscriptions, targets
from syndication.feeds import index
from syndication.infra import metrics
from syndication.infra.context import Context
from syndication.pipeline import embargo, ingest
from syndication.pipeline.followup import FollowUp

SWEEP_LOCK_MS = 900
EVENT_GRACE = 1.0  # seconds an event may wait unclaimed before the sweep queues a batch for it
# ... and again if that batch has not started after this long (its message was lost, or the events
# worker is down or busy: one message per window, not one per sweep; a spare batch is harmless).
EVENT_KICK_WINDOW = 2.0


def sweep(ctx: Context, now: float | None = None) -> FollowUp:
    if not ctx.redis.set(ctx.keys.sweep_lock, 1, nx=True, px=SWEEP_LOCK_MS):
        return FollowUp(outcome="skipped")  # another worker swept this second: nothing to count
    now = now or time.time()
    pipe = ctx.redis.pipeline(transaction=False)
    metrics.inc(pipe, ctx.keys, "sweeps", outcome="ran")
    pipe.set(ctx.keys.sweeper_last_run, now)
    pipe.execute()
    late = ingest.due(ctx, older_than=EVENT_GRACE)
    out = FollowUp(outcome="ran", events=late if late and ingest.kick(ctx, older_than=EVENT_KICK_WINDOW) else [])
    # New or edited feeds (re)render on start; then dirty feeds whose render task was lost.
    out.feeds = index.mark_dirty(ctx, index.stale_definitions(ctx)) + index.orphaned_dirty(ctx)
    # Embargoes whose instant has come: released here, so a release needs no operator and no task
    # of its own. Their partners are marked ready with the others below (not found by the due
    # count: a new delivery is due a hair after `now`).
    released = embargo.release_due(ctx, now)
    out.feeds += [name for name in released.feeds if name not in out.feeds]
    due = list(released.partners)
    for partner in ctx.settings.targets:
        partner_schedule = schedule.DueSchedule(ctx, partner.id)
        partner_schedule.expire_leases(now)
        if partner_schedule.due_count(now) and partner.id not in due:
            due.append(partner.id)
    # Our hub's subscribers: leases that ended stop distribution; those with work are found through
    # their index (delivery/targets.py), never by walking every subscription.
    subscriptions.expire(ctx, now)
    due += [tid for tid in targets.sweep_busy(ctx, now) if tid not in due]
    out.partners = schedule.mark_ready(ctx, due)
    return out
