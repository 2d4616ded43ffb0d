"""Applying accepted events: article state, then feeds, then deliveries; one path for one event or many.

    applied = apply_events(ctx, ids)        # a batch (pipeline/batch.py claims it from events:pending)
    applied.outcomes                        # event id -> applied | replay | stale | already_applied | missing
    applied.failed                          # event id -> what it raised (park=True: counted, see dead_events.py)
    applied.feeds, applied.partners         # feeds to render (render lock taken); partners with new deliveries
    follow = apply_event(ctx, event_id)     # apply_events(ctx, [event_id]) as a FollowUp; raises what failed

However many events, the work goes through Redis in five round trips: the bodies; every
compare-and-set, in order (two versions of one article in a batch apply in turn); the article
states; the feed placing; then one transaction with every delivery, dirty mark, changed-at bump
and event record. Updates and withdrawals add their own reads (older deliveries, partners that
had the story: fanout.py), and nothing else differs between one event and a batch.

Every step is idempotent, so a task redelivered after a crash simply runs again: the article
compare-and-set recognises its own event ("replay") and the feed and delivery steps are redone
without effect. The follow-up work is recorded in Redis (dirty feeds, due deliveries) *before*
it is returned, so if sending the follow-up tasks is lost the sweeper still finds it. One event
failing (a body that does not parse, its fan-out raising) does not stop the others; a Redis
error in a shared round trip applies each event on its own, so it is counted against the event
that causes it.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from syndication import tracing
from syndication.articles import ArticleState, ArticleStore, CasResult
from syndication.delivery import schedule
from syndication.feeds import index
from syndication.infra import metrics
from syndication.infra.context import Context
from syndication.infra.transaction import Transaction
from syndication.pipeline import dead_events, embargo
from syndication.pipeline.fanout import fan_out
from syndication.pipeline.followup import FollowUp
from syndication.text import clean_article, xml_safe

log = logging.getLogger("syndication.apply")


@dataclass(frozen=True)
class ParsedEvent:
    """A stored event, read for applying: the article as it will be stored (cleaned)."""

    event_id: str
    type: str  # article.published | article.updated | article.withdrawn
    article_id: str
    version: int
    data: dict | None  # the cleaned article; None for a withdrawal
    reason: str  # a withdrawal's reason, cleaned; '' otherwise
    occurred_at: str
    trace: dict | None = None  # the newsroom's trace context (tracecontext.envelope), if it sent one

    @property
    def withdrawn(self) -> bool:
        return self.type == "article.withdrawn"

    @classmethod
    def from_body(cls, event_id: str, body: bytes) -> "ParsedEvent":
        """Raises (ValueError, KeyError, ...) on a body that is not a stored event."""
        event = json.loads(body)
        art, withdrawn = event["article"], event["type"] == "article.withdrawn"
        return cls(event_id=event_id, type=event["type"], article_id=art["id"], version=int(art["version"]),
                   data=None if withdrawn else clean_article(art),
                   reason=xml_safe(art.get("reason", "")) if withdrawn else "",
                   occurred_at=event.get("occurred_at") or "", trace=event.get("trace"))


@dataclass
class Applied:
    """What applying some events did (see the module docstring)."""

    outcomes: dict[str, str] = field(default_factory=dict)
    failed: dict[str, Exception] = field(default_factory=dict)
    feeds: list[str] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)

    def add(self, other: "Applied") -> None:
        self.outcomes.update(other.outcomes)
        self.failed.update(other.failed)
        self.feeds += [f for f in other.feeds if f not in self.feeds]
        self.partners += [p for p in other.partners if p not in self.partners]

    def summary(self) -> str:
        """`applied=5,failed=1`: the outcomes counted (a Celery task's result)."""
        return ",".join(f"{k}={v}" for k, v in sorted(Counter(self.outcomes.values()).items())) or "none"


@dataclass
class _Item:
    """One event on its way through a batch."""

    event: ParsedEvent
    cas: CasResult
    state: ArticleState | None = None  # the article as it is after every compare-and-set of the batch


def apply_event(ctx: Context, event_id: str, kick: bool = True) -> FollowUp:
    """Apply one event (a batch of one); raises what made it fail."""
    applied = apply_events(ctx, [event_id])
    if event_id in applied.failed:
        raise applied.failed[event_id]
    return _follow_up(ctx, applied, event_id, kick)


def apply_or_park(ctx: Context, event_id: str, kick: bool = True) -> FollowUp:
    """`apply_event`, but a failure is counted, and an event that keeps failing parked (dead_events.py)."""
    return _follow_up(ctx, apply_events(ctx, [event_id], park=True), event_id, kick)


def _follow_up(ctx: Context, applied: Applied, event_id: str, kick: bool) -> FollowUp:
    return FollowUp(outcome=applied.outcomes[event_id], feeds=applied.feeds,
                    partners=schedule.mark_ready(ctx, applied.partners) if kick else applied.partners)


def apply_events(ctx: Context, ids: list[str], park: bool = False) -> Applied:
    """Apply the events, in order; with `park`, each failure is counted (its outcome: failed or dead)."""
    try:
        applied = _apply_together(ctx, ids)
    except Exception as exc:  # Redis trouble mid-batch: each event again on its own, counted per event
        if len(ids) != 1:
            log.warning("batch apply failed; applying its events one at a time", exc_info=True)
            applied = Applied()
            for event_id in ids:
                applied.add(apply_events(ctx, [event_id]))
        else:
            applied = Applied(failed={ids[0]: exc})
    if park:
        for event_id, exc in applied.failed.items():
            applied.outcomes[event_id] = dead_events.count_failure(ctx, event_id, exc)
    return applied


def _apply_together(ctx: Context, ids: list[str]) -> Applied:
    out = Applied()
    now = time.time()
    events = _load(ctx, ids, out)
    items = _compare_and_set(ctx, events, now)
    final = Transaction(ctx.redis)
    current = _read_states(ctx, items, out, final)
    bumps = _place(ctx, current)
    for item in current:
        # Deliveries only for the event's own version: if a newer one landed in between, its own
        # apply fans out (and retires ours), and our event must not label its version.
        if item.state.version != item.event.version:
            continue
        try:
            out.partners += [p for p in fan_out(ctx, final.pipe, item.state, item.event, item.cas.previous_version)
                             if p not in out.partners]
        except Exception as exc:  # this event only: the others go on
            out.failed[item.event.event_id] = exc
    for item in items:
        if item.event.event_id not in out.failed and item.event.event_id not in out.outcomes:
            _queue_finish(ctx, final.pipe, item.event, item.cas, now)
            out.outcomes[item.event.event_id] = item.cas.outcome
    for name, when in bumps.items():
        index.queue_bump(ctx, final.pipe, name, when)
    with final.group("dirty"):
        taken = index.queue_mark_dirty(ctx, final.pipe, list(bumps))
    out.feeds = taken(final.execute().dirty)
    for item in items:
        if out.outcomes.get(item.event.event_id) in ("applied", "replay", "stale"):
            log.info("event %s", "stale" if item.cas.outcome == "stale" else "applied", extra={
                "event_id": item.event.event_id, "article_id": item.event.article_id, "outcome": item.cas.outcome})
    return out


def _load(ctx: Context, ids: list[str], out: Applied) -> list[ParsedEvent]:
    """The events' bodies, parsed; a missing one (expired, never stored) leaves the pending set
    here, one that does not parse is a failure."""
    tx = Transaction(ctx.redis, atomic=False)
    bodies = tx.each("bodies")
    for event_id in ids:
        bodies.hget(ctx.keys.event(event_id), "body")
    events, gone = [], []
    for event_id, body in zip(ids, tx.execute().bodies):
        if body is None:
            out.outcomes[event_id] = "missing"
            gone.append(event_id)
            continue
        try:
            events.append(ParsedEvent.from_body(event_id, body))
        except Exception as exc:  # stored before a rule existed, or damaged: counted for this event
            out.failed[event_id] = exc
    if gone:
        ctx.redis.zrem(ctx.keys.events_pending, *gone)
    return events


def _compare_and_set(ctx: Context, events: list[ParsedEvent], now: float) -> list[_Item]:
    tx, store = Transaction(ctx.redis, atomic=False), ArticleStore.of(ctx)
    with tx.group("cas"):  # one compare-and-set per event
        for e in events:
            store.queue_apply(tx.pipe, e.article_id, e.version, e.data, withdrawn=e.withdrawn, event_id=e.event_id,
                              now=now, reason=e.reason, event_type=e.type, occurred_at=e.occurred_at,
                              log=not embargo.holds(e.data, now))  # held: the log gets it at release
    return [_Item(e, store.cas_result(raw)) for e, raw in zip(events, tx.execute().cas)]


def _read_states(ctx: Context, items: list[_Item], out: Applied, final: Transaction) -> list[_Item]:
    """Read each changed article as it now is; return the items whose feeds and deliveries follow.

    A stale event whose record says applied is a late redelivery of an event applied before a
    newer one: its record stands (`already_applied`: it only leaves the pending set)."""
    tx = Transaction(ctx.redis, atomic=False)
    statuses, states = tx.each("stale"), tx.each("states")
    for item in items:
        if item.cas.outcome == "stale":
            statuses.hget(ctx.keys.event(item.event.event_id), "status")
        else:
            states.hgetall(ctx.keys.article(item.event.article_id))
    replies = tx.execute()
    stale = [i for i in items if i.cas.outcome == "stale"]
    for item, status in zip(stale, replies.stale):
        if status == b"applied":
            out.outcomes[item.event.event_id] = "already_applied"
            final.pipe.zrem(ctx.keys.events_pending, item.event.event_id)
    current = [i for i in items if i.cas.outcome != "stale"]
    for item, h in zip(current, replies.states):
        item.state = ArticleStore.state_from(item.event.article_id, h)
    return [i for i in current if i.state is not None]  # None: deleted meanwhile (a reset)


def _place(ctx: Context, items: list[_Item]) -> dict[str, float]:
    """Place each article in the feeds it now matches (idempotent, so the last apply wins); return the
    feeds that changed, with when their content changed (the newest of the batch)."""
    placed = {item.event.article_id: item.state for item in items}  # two versions of one article: once
    tx = Transaction(ctx.redis, atomic=False)
    readers = {}
    for article_id, state in placed.items():
        with tx.group(article_id):
            readers[article_id] = index.queue_place(ctx, tx.pipe, state)
    replies = tx.execute()
    changed = {article_id: read(iter(replies[article_id])) for article_id, read in readers.items()}
    bumps: dict[str, float] = {}
    for item in items:
        when = index.change_time(item.state, item.event.occurred_at)
        for name in changed[item.event.article_id]:
            bumps[name] = max(bumps.get(name, 0.0), when)
    return bumps


def _queue_finish(ctx: Context, pipe, event: ParsedEvent, cas: CasResult, now: float) -> None:
    """The event's record: applied (or stale), out of the pending set, in the recent-events log."""
    status = "stale" if cas.outcome == "stale" else "applied"
    pipe.hset(ctx.keys.event(event.event_id), mapping={"status": status, "outcome": cas.outcome,
                                                       "previous_version": cas.previous_version})
    pipe.zrem(ctx.keys.events_pending, event.event_id)
    pipe.lpush(ctx.keys.events_log, json.dumps({
        "event_id": event.event_id, "type": event.type, "article_id": event.article_id,
        "version": event.version, "outcome": cas.outcome, "at": now}))
    pipe.ltrim(ctx.keys.events_log, 0, 999)
    metrics.inc(pipe, ctx.keys, "events_applied", outcome=cas.outcome)
    tracing.applied(event.trace, now, **{"event.id": event.event_id, "outcome": cas.outcome})  # OTLP only
