"""Fan-out: which partners hear of an applied version, and their deliveries of it.

    targets = fan_out(ctx, pipe, state, event, previous_version)   # writes queued on `pipe`

A new version goes to every partner whose filters match it (only `embargo: send` partners while
an embargo holds it: pipeline/embargo.py); a withdrawal goes to every partner that has, or may be
receiving, an earlier version. Waiting deliveries of older versions are retired first (by their
owner, delivery/records.py), so a partner never has two versions of a story due. Reads happen
now; the new deliveries and the embargo entry join the caller's transaction (pipeline/apply.py),
with the event's own record.
"""

from __future__ import annotations

from syndication.articles import ArticleState
from syndication.delivery import records
from syndication.infra.context import Context
from syndication.pipeline import embargo


def fan_out(ctx: Context, pipe, state: ArticleState, event, previous_version: int) -> list[str]:
    """Queue one delivery per partner that should hear of this version on `pipe`; return those
    partners. `event`: the ParsedEvent that made `state` current."""
    if previous_version != 0:  # 0: the article is new here, so no older delivery can exist
        records.retire(ctx, state.id, state.version, state.withdrawn)
    if state.withdrawn:
        targets = _had_it(ctx, state)
    else:
        targets = ctx.settings.recipients(state.data)
        if embargo.held(state):
            targets = embargo.at_once(ctx, targets)
    records.queue_create_many(ctx, pipe, targets, state.id, state.version, event.event_id, event.type,
                              occurred_at=event.occurred_at, trace=event.trace)
    embargo.track(ctx, state, previous_version, client=pipe)
    return targets


def _had_it(ctx: Context, state: ArticleState) -> list[str]:
    """Partners with a delivery record of an earlier version or (records expire with the retention)
    one that acknowledged it, in the partners file's order."""
    earlier = {r["partner"] for r in records.for_article(ctx, state.id) if r["version"] < state.version}
    pushed = [p for p in ctx.settings.partners if p.pushes]
    pipe = ctx.redis.pipeline(transaction=False)
    for p in pushed:
        pipe.hget(ctx.keys.partner_acked(p.id), state.id)
    acked = {p.id for p, v in zip(pushed, pipe.execute()) if v is not None}
    return [p.id for p in pushed if p.id in earlier | acked]
