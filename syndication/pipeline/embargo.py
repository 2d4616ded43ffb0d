"""Embargoes: holding a story back until its `embargoed` instant, and releasing it then.

A version is *held* when its `article.embargoed` instant lies ahead of the moment it was
applied (the article hash's `updated_at`, written by the compare-and-set itself, so a
re-applied event decides the same way). While held:

- its state is stored as always (versions only move forward);
- it is in no feed (feeds/index.public), and `GET /v1/articles/{id}` shows it to key holders only;
- only partners with `embargo: send` get a delivery now (`at_once`); their formats mark it
  embargoed; partners with the default `embargo: hold` get nothing yet;
- it does not enter the change log (the pull API): `holds()` is the "log now" answer at apply;
- `embargo:due` (article id -> the instant) remembers it (`track`, written before the event
  counts as applied: a crash re-drives the event and the entry is written again).

Release (`release_due`, run by every sweep, about once a second, so within 2 s of the instant
and with no operator): for each article due, one WATCHed transaction on its hash re-reads it
and, if the held version is still the current one, not withdrawn and its instant has come,
places it in its feeds (marked dirty: they re-render), creates the delivery of that version
for every matching partner and writes `released` = version on the article, then drops the
entry. A `send` partner already has a delivery with that id (article, version, partner), and
creating an existing record is a no-op: it hears nothing again unless the content changed.
The transaction is all or nothing (a worker dying mid-release leaves the entry for the next
sweep), and two sweeps racing on one article cannot both release it: the first one's
`released` write makes the second one's WATCH fail, and on its second look it is released.

An update during the embargo is a new version, decided afresh: still ahead, it is held and
the entry moves to the new instant; no embargo (or one already past), it goes out the normal
way at once and the entry is forgotten. A withdrawal forgets the entry; its own fan-out sends
the withdrawal to partners holding a delivery of an older version, i.e. only the `send`
partners of a story that was never released. An already public article updated under an
embargo leaves the feeds until the release.

What a withdrawal shows is only what was released to whoever sees it: the article hash keeps
`released_data`, the newest version released to everyone (written by the compare-and-set for a
version applied with no embargo ahead, and by the release here). The change log's withdrawal
entry, the tombstone pushed to a hold partner and the anonymous article read are built from it;
a story never released has no withdrawal entry in the log at all, and no hold partner is sent
one (it holds no delivery of the story). A `send` partner's tombstone may carry the held version
it was sent (delivery/push.py `released_to`).
"""

from __future__ import annotations

import json
import logging
import time

from redis.exceptions import WatchError

from syndication.articles import ArticleState, ArticleStore
from syndication.delivery import records
from syndication.events import embargoed_until
from syndication.feeds import index
from syndication.infra.context import Context
from syndication.infra.transaction import Transaction
from syndication.pipeline import changelog
from syndication.pipeline.followup import FollowUp

log = logging.getLogger("syndication.embargo")
RELEASE_BATCH = 100  # articles released per sweep at most; the next sweep goes on
WATCH_TRIES = 5  # a release re-reads the article this often when an apply races it

# KEYS[1] embargo:due, KEYS[2] article hash. ARGV[1] article id, ARGV[2] version.
# Drop the entry only while that version is the article's current one: a newer held version
# applied meanwhile has written its own entry, which must stay.
_FORGET = """
if redis.call('HGET', KEYS[2], 'version') == ARGV[2] then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
"""


def holds(data: dict | None, now: float) -> bool:
    """Is an article with this data, applied at `now`, held back (the "log now" flag is its negation)."""
    until = embargoed_until(data)
    return until is not None and until > now


def held(state: ArticleState) -> bool:
    """Was the article's current version held when it was applied (see the module docstring)."""
    return not state.withdrawn and holds(state.data, state.updated_at)


def until(state: ArticleState) -> float | None:
    """The instant the article's embargo ends (unix seconds), if it has one."""
    return embargoed_until(state.data)


def at_once(ctx: Context, partner_ids: list[str]) -> list[str]:
    """Of the partners a held version matches, those that get it now (`embargo: send`)."""
    return [pid for pid in partner_ids if (p := ctx.settings.partner(pid)) is not None and p.embargo == "send"]


def track(ctx: Context, state: ArticleState, previous_version: int | None, client=None) -> None:
    """After an apply: remember a held version's release, or forget a release no longer wanted
    (on `client`, a pipeline of the caller's, if given)."""
    client = ctx.redis if client is None else client
    if held(state):
        client.zadd(ctx.keys.embargo_due, {state.id: until(state)})
    elif previous_version != 0:  # a first version has nothing to forget
        ctx.script(_FORGET)(keys=[ctx.keys.embargo_due, ctx.keys.article(state.id)],
                            args=[state.id, state.version], client=client)


def release_due(ctx: Context, now: float | None = None, limit: int = RELEASE_BATCH) -> FollowUp:
    """Release every article whose embargo has come; return the feeds whose render must be queued
    and the partners with new deliveries (to mark ready: `schedule.mark_ready`)."""
    now = time.time() if now is None else now
    due = [a.decode() for a in ctx.redis.zrangebyscore(ctx.keys.embargo_due, "-inf", now, 0, limit)]
    feeds: dict[str, None] = {}
    partners: dict[str, None] = {}
    for article_id in due:
        follow = release(ctx, article_id, now)
        feeds.update(dict.fromkeys(follow.feeds))
        partners.update(dict.fromkeys(follow.partners))
    return FollowUp(outcome=f"released={len(due)}", feeds=list(feeds), partners=list(partners))


def release(ctx: Context, article_id: str, now: float) -> FollowUp:
    """Release one article if its held version's instant has come (idempotent); return the feeds
    to render and the partners it created deliveries for."""
    key, due_key = ctx.keys.article(article_id), ctx.keys.embargo_due
    with ctx.redis.pipeline(transaction=True) as pipe:
        for _ in range(WATCH_TRIES):
            try:
                pipe.watch(key)
                h = pipe.hgetall(key)
                state = ArticleStore.of(ctx).state_from(article_id, h)
                if state is None or not held(state) or int(h.get(b"released") or 0) == state.version:
                    pipe.multi()  # withdrawn, lifted, unknown or already released: nothing to release
                    pipe.zrem(due_key, article_id)
                    pipe.execute()
                    return FollowUp(outcome="nothing")
                if until(state) > now:  # moved later by an update (its own entry may not be written yet)
                    pipe.multi()
                    pipe.zadd(due_key, {article_id: until(state)})
                    pipe.execute()
                    return FollowUp(outcome="moved")
                event_type, occurred_at, trace = _event_of(ctx, pipe, state)
                pipe.multi()
                tx = Transaction.on(pipe)
                feeds, partners = _queue_release(ctx, pipe, state, event_type, occurred_at, now, trace)
                with tx.group("dirty"):
                    taken = index.queue_mark_dirty(ctx, pipe, feeds)
                render = taken(tx.execute().dirty)
                log.info("embargo released", extra={"article_id": article_id, "version": state.version,
                                                    "outcome": "released"})
                return FollowUp(outcome="released", feeds=render, partners=partners)
            except WatchError:  # an apply changed the article meanwhile: look again
                pipe.reset()
    log.warning("embargo release kept losing to applies; the next sweep tries again",
                extra={"article_id": article_id})
    return FollowUp(outcome="raced")


def _event_of(ctx: Context, pipe, state: ArticleState) -> tuple[str, str, dict | None]:
    """The type, time and trace of the event behind the held version (its deliveries carry them)."""
    typ, body = pipe.hmget(ctx.keys.event(state.event_id), "type", "body")
    try:
        event = json.loads(body) if body else {}
    except ValueError:
        event = {}
    occurred_at, trace = event.get("occurred_at") or "", event.get("trace")
    # Events expire after a week; an embargo may be longer. A version never public is news.
    return (typ.decode() if typ else "article.published"), occurred_at, trace


def _queue_release(ctx: Context, pipe, state: ArticleState, event_type: str, occurred_at: str,
                   now: float, trace: dict | None = None) -> tuple[list[str], list[str]]:
    """Queue the release's writes on `pipe` (in MULTI); return the feeds it puts the article in and
    the partners it creates deliveries for (a `send` partner's already exists: nothing new)."""
    index.queue_place(ctx, pipe, state)
    # Held, the article was in no feed: every feed it matches changes now.
    feeds = [spec.name for spec in ctx.settings.feeds if spec.filters.matches(state.data)]
    when = index.change_time(state, occurred_at)
    for name in feeds:
        index.queue_bump(ctx, pipe, name, when)
    targets = ctx.settings.recipients(state.data)
    records.queue_create_many(ctx, pipe, targets, state.id, state.version, state.event_id, event_type, now,
                              occurred_at=occurred_at, trace=trace)
    # The change log (the pull API) gets the version now: the apply kept it out (`log=False`).
    changelog.append(pipe, ctx.keys, article_id=state.id, version=state.version,
                     kind=event_type.removeprefix("article."), event_id=state.event_id, data=state.data,
                     occurred_at=occurred_at, now=now, retention=ArticleStore.of(ctx).log_retention)
    # From now on it is what everyone may see of the story (a later withdrawal's tombstone included).
    pipe.hset(ctx.keys.article(state.id), mapping={
        "released": state.version,
        "released_data": json.dumps(state.data, ensure_ascii=False, separators=(",", ":"))})
    pipe.zrem(ctx.keys.embargo_due, state.id)
    return feeds, targets
