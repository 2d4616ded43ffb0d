"""Applying accepted events in batches: one Celery task for many events.

    followup = apply_batch(ctx)   # claim up to APPLY_BATCH due events (oldest first), apply them
    followup.feeds                # feed names whose render must be queued (lock taken)
    followup.partners             # partners with new due deliveries (marked ready, once per batch)
    followup.events               # non-empty: more events wait, queue another batch (marker taken)

A batch drains `events:pending` the way a push batch drains a partner's due
deliveries. Its events go through Redis together in five round trips
(`_apply_together`); what needs a look at older deliveries (updates,
withdrawals) or fails goes through apply.py one event at a time, from the
compare-and-set already made.
"""

from __future__ import annotations

import json
import logging
import time

from syndication.articles import ArticleStore, CasResult
from syndication.delivery import records, schedule
from syndication.feeds import index
from syndication.infra.context import Context
from syndication.pipeline import apply, embargo, ingest
from syndication.pipeline.followup import FollowUp
from syndication.text import clean_article, xml_safe

log = logging.getLogger("syndication.apply")
APPLY_BATCH = 200  # events per batch: big enough to amortise a task, small enough to spread over threads


def apply_batch(ctx: Context, limit: int = APPLY_BATCH) -> FollowUp:
    """Apply up to `limit` due events (oldest first); one event failing does not stop the others.

    The batch goes through Redis in a handful of round trips (`_apply_together`); an event that
    path cannot take (a body that does not parse, an update or withdrawal that must look at older
    deliveries) and everything after a Redis error are applied one at a time (`apply_or_park`),
    which is the same work, idempotent, with failures counted per event.
    """
    ingest.start_batch(ctx)
    ids = ingest.claim(ctx, limit)
    outcomes: dict[str, int] = {}
    feeds: dict[str, None] = {}
    partners: dict[str, None] = {}
    together: dict[str, FollowUp] = {}
    compared: dict[str, CasResult] = {}
    try:
        _apply_together(ctx, ids, together, compared)
    except Exception:  # Redis trouble mid-batch: each event again on its own, counted per event
        log.warning("batch apply failed; applying its events one at a time", exc_info=True)
        together.clear()
    for event_id in ids:
        follow = together.get(event_id) or apply.apply_or_park(ctx, event_id, kick=False, cas=compared.get(event_id))
        outcomes[follow.outcome] = outcomes.get(follow.outcome, 0) + 1
        feeds.update(dict.fromkeys(follow.feeds))
        partners.update(dict.fromkeys(follow.partners))
    out = FollowUp(outcome=",".join(f"{k}={v}" for k, v in sorted(outcomes.items())) or "none",
                   feeds=list(feeds), partners=schedule.mark_ready(ctx, list(partners)))
    if ids:
        waiting = ingest.due(ctx, limit=1)
        if waiting and ingest.kick(ctx):
            out.events = waiting
    return out


def _apply_together(ctx: Context, ids: list[str], follows: dict[str, FollowUp],
                    compared: dict[str, CasResult]) -> None:
    """Apply the batch's events in five round trips, whatever its size.

    Every event's compare-and-set runs here (`compared`); the events that need nothing more than
    a first version's fan-out are finished here too (`follows`, the batch's feeds to render on the
    first of them). The others (updates and withdrawals, which look at older deliveries, stale
    events, bodies that do not parse) continue one by one from their known compare-and-set.
    """
    if not ids:
        return
    pipe = ctx.redis.pipeline(transaction=False)
    for event_id in ids:
        pipe.hget(ctx.keys.event(event_id), "body")
    now = time.time()
    parsed = []
    for event_id, body in zip(ids, pipe.execute()):
        try:
            event = json.loads(body)
            art = event["article"]
            withdrawn = event["type"] == "article.withdrawn"
            data = None if withdrawn else clean_article(art)
            reason = xml_safe(art.get("reason", "")) if withdrawn else ""
            parsed.append((event_id, event, art["id"], int(art["version"]), data, withdrawn, reason))
        except Exception:  # missing or unparseable: apply_or_park says what and counts it
            continue
    # Compare-and-set every article, in order (two versions of one article in a batch apply in turn).
    pipe = ctx.redis.pipeline(transaction=False)
    for event_id, event, aid, version, data, withdrawn, reason in parsed:
        ArticleStore.of(ctx).queue_apply(pipe, aid, version, data, withdrawn=withdrawn, event_id=event_id, now=now,
                                 reason=reason, event_type=event["type"], occurred_at=event.get("occurred_at") or "",
                                 log=not embargo.holds(data, now))  # held: the log gets it at release
    cas = [ArticleStore.of(ctx).cas_result(raw) for raw in pipe.execute()]
    compared.update({p[0]: c for p, c in zip(parsed, cas)})
    # Only what needs no look at older deliveries goes on together: a first version (nothing older
    # to retire) that is still the article's newest and not held by an embargo (fewer partners, a
    # release to schedule: pipeline/embargo.py). The rest, one by one.
    fresh = [(p, c) for p, c in zip(parsed, cas) if c.outcome == "applied" and c.previous_version == 0
             and not p[5] and not embargo.holds(p[4], now)]
    if not fresh:
        return
    pipe = ctx.redis.pipeline(transaction=False)
    for (_, _, aid, *_), _ in fresh:
        pipe.hgetall(ctx.keys.article(aid))
    states = [ArticleStore.of(ctx).state_from(p[2], h) for (p, _), h in zip(fresh, pipe.execute())]
    # A newer version landed meanwhile (in this batch, say): its own apply fans out; ours, one by one.
    fresh = [(p, c, st) for (p, c), st in zip(fresh, states) if st is not None and st.version == p[3]]
    if not fresh:
        return
    # Feeds: place each article (idempotent), then one transaction for everything that follows.
    pipe = ctx.redis.pipeline(transaction=False)
    placing = [index.queue_place(ctx, pipe, st) for _, _, st in fresh]
    results = iter(pipe.execute())
    changed = [read(results) for read in placing]
    pipe = ctx.redis.pipeline(transaction=True)
    bumps: dict[str, float] = {}
    for ((event_id, event, aid, version, *_), c, st), names in zip(fresh, changed):
        when = index.change_time(st, event.get("occurred_at"))
        for name in names:
            bumps[name] = max(bumps.get(name, 0.0), when)
        targets = ctx.settings.recipients(st.data)
        records.queue_create_many(ctx, pipe, targets, aid, version, event_id, event["type"],
                                  occurred_at=event.get("occurred_at") or "", trace=event.get("trace"))
        apply.queue_finish(ctx, pipe, event_id, event, c.outcome, c.previous_version)
        follows[event_id] = FollowUp(outcome=c.outcome, partners=targets)
    for name, when in bumps.items():
        index.queue_bump(ctx, pipe, name, when)
    taken = index.queue_mark_dirty(ctx, pipe, list(bumps))
    render = taken(pipe.execute())
    first = follows[fresh[0][0][0]]
    first.feeds = render
    for event_id, follow in follows.items():
        log.info("event applied", extra={"event_id": event_id, "outcome": follow.outcome})
