"""The steps that follow a feed render and a push batch, each returning its FollowUp.

    render_feed(ctx, name)      render and store; ping an external WebSub hub for changed formats, or
                                distribute them to our own hub's subscribers;
                                render once more if the feed went dirty meanwhile
    push_batch(ctx, partner)    push one batch; mark the partner ready again while more are due

The work itself lives in feeds/ and delivery/; these only decide what comes next.
"""

from __future__ import annotations

from syndication.delivery import push, schedule, websub
from syndication.feeds import store
from syndication.infra.context import Context
from syndication.websub import distribute
from syndication.pipeline.followup import FollowUp


def render_feed(ctx: Context, name: str) -> FollowUp:
    outcome = store.render_feed(ctx, name)
    etags = store.etags(ctx, name, outcome.changed)
    pings = websub.create_pings(ctx, name, outcome.changed, etags)  # an external hub's
    pushes = distribute.create(ctx, name, outcome.changed, etags)  # our own hub's subscribers
    return FollowUp(outcome="changed" if outcome.changed else "unchanged",
                    feeds=[name] if outcome.again else [], partners=schedule.mark_ready(ctx, pings + pushes))


def push_batch(ctx: Context, partner_id: str) -> FollowUp:
    result = push.push_batch(ctx, partner_id)
    outcome = ",".join(f"{k}={v}" for k, v in sorted(result.outcomes.items()))
    if not result.more_due:
        return FollowUp(outcome=outcome)
    schedule.mark_ready(ctx, [partner_id])  # may be marked already: the claim does so when it leaves work to share
    return FollowUp(outcome=outcome, partners=[partner_id])
