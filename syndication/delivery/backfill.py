"""Backfill: a partner signed today gets the stories it would have had, through the normal deliveries.

    result = backfill.run(ctx, "kazinform", last=20)          # the 20 newest matching articles
    result = backfill.run(ctx, "kazinform", since=t0)         # everything published since t0
    result.matched, result.created, result.skipped, result.forced

What is sent: the *current* version of every article that is published (not withdrawn), not
under an embargo still ahead (feeds/index.public, the same test the feeds use) and matches the
partner's filters (`filters.wants`, the decision fan-out makes), picked by publish time from
the `articles` index (article id -> published-at), newest first until `last` are found or
`since` is passed, then created oldest first: each delivery's creation time (its due score
and its place in the partner's history) follows publish order, so the pushes go out oldest
first (strictly so for a partner with `max_in_flight: 1`).

Each delivery is created by `records.queue_create_many`, so its id is the one a normal push of
that version has (`delivery_id(article, version, partner)`) and creating one that exists is a
no-op: a partner that already has the version is not sent it again, and a second backfill
creates nothing (`skipped` counts those "already there"). From there the normal machinery
takes over: retries, circuit, pause, history, dead letters.

`force`: a version whose delivery exists is made due again instead of skipped, keeping its id
(a partner that dedupes on `webhook-id` will ignore it; one that lost its copy takes it), its
attempt history, and starting a fresh retry budget, like a replay. Whatever its status
(delivered, dead, parked, cancelled, discarded...), except one already waiting to go (pending)
or being attempted right now (in flight): those are skipped. The check is one Lua script that
also re-reads the article, so a version that stopped being current meanwhile (updated,
withdrawn) is left alone: force never rewrites a record of an older version.

Work is done in pages (PAGE articles per round trip). `progress(done, total)` is called after
each page of creation. `dry_run`: count what would happen, change nothing. Nothing here
writes the audit trail: the callers (CLI, API) know who acts.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable

from syndication.articles import ArticleState, ArticleStore
from syndication.delivery import records, schedule
from syndication.feeds import index
from syndication.infra.context import Context

PAGE = 300  # articles read, and deliveries created, per round trip
MAX_LAST = 10_000
STEP = 1e-5  # seconds between two backfilled deliveries' creation times: keeps publish order


class UnknownPartner(LookupError):
    """No partner with this id in the partners file (the WebSub hub and ops webhook are not partners)."""


class PartnerDisabled(ValueError):
    """The partner is `enabled: false`: its deliveries would be cancelled as soon as they were made."""


@dataclass(frozen=True)
class BackfillResult:
    matched: int  # current versions that match (what a new partner would have been sent)
    created: int  # deliveries created now
    skipped: int  # already there (their delivery existed), not made due again
    forced: int = 0  # already there and made due again (`force`)
    dry_run: bool = False


@dataclass(frozen=True)
class _Candidate:
    state: ArticleState
    event_type: str
    occurred_at: str


# KEYS: delivery, attempts, deadletters, partner parked, partner due, partner inflight, article.
# ARGV: now, delivery id, version, dry run (1/0).
# Returns "due", "unknown" or "skip:<why>" (pending, inflight, moved: no longer the current version).
_FORCE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'unknown' end
local cur = redis.call('HMGET', KEYS[7], 'version', 'withdrawn')
if cur[1] ~= ARGV[3] or cur[2] == '1' then return 'skip:moved' end
if status == 'pending' then return 'skip:pending' end
if redis.call('ZSCORE', KEYS[6], ARGV[2]) then return 'skip:inflight' end
if ARGV[4] == '1' then return 'due' end
local attempts = redis.call('HGET', KEYS[1], 'attempts') or '0'
redis.call('HSET', KEYS[1], 'status', 'pending', 'updated_at', ARGV[1], 'next_attempt_at', ARGV[1],
           'attempts_base', attempts, 'replayed_at', ARGV[1])
redis.call('HDEL', KEYS[1], 'finished_at')
redis.call('HINCRBY', KEYS[1], 'replays', 1)
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZADD', KEYS[5], ARGV[1], ARGV[2])
return 'due'
"""


def partner_of(ctx: Context, partner_id: str):
    """The partner to backfill, or raise UnknownPartner / PartnerDisabled."""
    partner = next((p for p in ctx.settings.partners if p.id == partner_id), None)
    if partner is None:
        raise UnknownPartner(f"no partner {partner_id!r}")
    if not partner.enabled:
        raise PartnerDisabled(f"partner {partner_id!r} is disabled (enabled: false in the partners file)")
    if partner.url is None:
        raise PartnerDisabled(f"partner {partner_id!r} only pulls (no url): it reads the pull API from the "
                              f"start of the change log instead")
    return partner


def run(ctx: Context, partner_id: str, *, last: int | None = None, since: float | None = None,
        force: bool = False, dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None) -> BackfillResult:
    """Create the partner's deliveries of every matching current version (see the module docstring).

    Exactly one of `last` (1..MAX_LAST) and `since` (unix seconds, by publish time) is given."""
    if (last is None) == (since is None):
        raise ValueError("give exactly one of last and since")
    if last is not None and not 1 <= last <= MAX_LAST:
        raise ValueError(f"last must be between 1 and {MAX_LAST}")
    partner = partner_of(ctx, partner_id)
    picked = _pick(ctx, partner, last, since)
    picked.reverse()  # found newest first; delivered oldest first
    created = forced = 0
    # Creation times just behind now, so every one is due at once and they sort in publish order.
    base = time.time() - len(picked) * STEP
    for start in range(0, len(picked), PAGE):
        page = picked[start:start + PAGE]
        if dry_run:
            new, again = _dry_page(ctx, partner_id, page, force)
        else:
            new, again = _create_page(ctx, partner_id, page, base + start * STEP, force)
        created, forced = created + new, forced + again
        if progress:
            progress(start + len(page), len(picked))
    if (created or forced) and not dry_run:
        schedule.kick(ctx, [partner_id])
    return BackfillResult(matched=len(picked), created=created, skipped=len(picked) - created - forced,
                          forced=forced, dry_run=dry_run)


def _pick(ctx: Context, partner, last: int | None, since: float | None) -> list[_Candidate]:
    """The matching current versions, newest first, a page of the `articles` index at a time."""
    out: list[_Candidate] = []
    seen: set[str] = set()  # an article updated meanwhile may move to a page not read yet
    lowest = "-inf" if since is None else since
    start = 0
    while last is None or len(out) < last:
        ids = [a.decode() for a in ctx.redis.zrevrangebyscore(ctx.keys.articles, "+inf", lowest,
                                                               start=start, num=PAGE)]
        if not ids:
            break
        start += len(ids)
        fresh = [a for a in ids if a not in seen]
        seen.update(fresh)
        states = [s for s in ArticleStore.of(ctx).get_many(fresh) if s is not None and _wanted(ctx, partner, s)]
        out += _with_events(ctx, states)
    return out if last is None else out[:last]


def _wanted(ctx: Context, partner, state: ArticleState) -> bool:
    """Published, not withdrawn, no embargo still ahead, and the partner's filters take it."""
    return index.public(state) and partner.filters.wants(state.data, ctx.settings.feeds)


def _with_events(ctx: Context, states: list[ArticleState]) -> list[_Candidate]:
    """The type and time of the event behind each version (its deliveries carry them), in one round trip."""
    pipe = ctx.redis.pipeline(transaction=False)
    for s in states:
        pipe.hmget(ctx.keys.event(s.event_id), "type", "body")
    out = []
    for s, (typ, body) in zip(states, pipe.execute()):
        occurred_at = ""
        if body:
            try:
                occurred_at = json.loads(body).get("occurred_at") or ""
            except ValueError:
                pass
        # Events expire after a week; the version tells what its event most likely was.
        event_type = typ.decode() if typ else ("article.published" if s.version == 1 else "article.updated")
        out.append(_Candidate(s, event_type, occurred_at))
    return out


def _create_page(ctx: Context, partner_id: str, page: list[_Candidate], first: float,
                 force: bool) -> tuple[int, int]:
    """Create a page's deliveries (one round trip); with `force`, make the existing ones due again
    (a second one). Returns (created, made due again)."""
    pipe = ctx.redis.pipeline(transaction=False)
    for i, c in enumerate(page):
        records.queue_create_many(ctx, pipe, [partner_id], c.state.id, c.state.version, c.state.event_id,
                                  c.event_type, now=first + i * STEP, occurred_at=c.occurred_at)
    made = pipe.execute()
    existing = [(c, first + i * STEP) for i, (c, new) in enumerate(zip(page, made)) if not new]
    again = _force(ctx, partner_id, existing, dry_run=False) if force and existing else 0
    return sum(1 for new in made if new), again


def _dry_page(ctx: Context, partner_id: str, page: list[_Candidate], force: bool) -> tuple[int, int]:
    """What `_create_page` would do, changing nothing."""
    pipe = ctx.redis.pipeline(transaction=False)
    for c in page:
        pipe.exists(ctx.keys.delivery(records.delivery_id(c.state.id, c.state.version, partner_id)))
    there = pipe.execute()
    existing = [(c, 0.0) for c, found in zip(page, there) if found]
    again = _force(ctx, partner_id, existing, dry_run=True) if force and existing else 0
    return len(page) - len(existing), again


def _force(ctx: Context, partner_id: str, existing: list[tuple[_Candidate, float]], *, dry_run: bool) -> int:
    """Make existing deliveries of current versions due again, each at its time (publish order; see
    `_FORCE`); how many were."""
    k, script = ctx.keys, ctx.script(_FORCE)
    pipe = ctx.redis.pipeline(transaction=False)
    for c, now in existing:
        did = records.delivery_id(c.state.id, c.state.version, partner_id)
        script(keys=[k.delivery(did), k.delivery_attempts(did), k.deadletters, k.partner_parked(partner_id),
                     k.partner_due(partner_id), k.partner_inflight(partner_id), k.article(c.state.id)],
               args=[now, did, c.state.version, int(dry_run)], client=pipe)
    return sum(1 for v in pipe.execute() if (v.decode() if isinstance(v, bytes) else v) == "due")
