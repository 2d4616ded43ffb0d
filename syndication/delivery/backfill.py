"""Backfill: a partner signed today gets the stories it would have had, through the normal deliveries.

    result = backfill.run(ctx, "kazinform", last=20)          # the 20 newest matching articles
    result = backfill.run(ctx, "kazinform", since=t0)         # everything published since t0
    result.matched, result.created, result.skipped, result.forced

What is sent: the *current* version of every article that is published (not withdrawn), not
under an embargo still ahead (ArticleState.public_now, the same test the feeds use) and matches the
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
from syndication.delivery import deadletters, lifecycle, records, schedule
from syndication.errors import PartnerDisabled, UnknownPartner
from syndication.infra.context import Context

PAGE = 300  # articles read, and deliveries created, per round trip
MAX_LAST = 10_000
STEP = 1e-5  # seconds between two backfilled deliveries' creation times: keeps publish order


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


def partner_of(ctx: Context, partner_id: str):
    """The partner to backfill, or raise UnknownPartner / PartnerDisabled."""
    partner = next((p for p in ctx.settings.partners if p.id == partner_id), None)
    if partner is None:
        raise UnknownPartner(f"no partner {partner_id!r}")
    if not partner.enabled:
        raise PartnerDisabled(f"partner {partner_id!r} is disabled (enabled: false in the partners file)")
    if partner.target is None:
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
        schedule.mark_ready(ctx, [partner_id])
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
    return state.public_now() and partner.filters.wants(state.data, ctx.settings.feeds)


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
    """Make existing deliveries of current versions due again, each at its time (publish order),
    through the one make-due-again script (lifecycle.FORCE); how many were."""
    ids = {records.delivery_id(c.state.id, c.state.version, partner_id): (c, at) for c, at in existing}
    verdicts = deadletters.make_due_again(
        ctx, list(ids), lifecycle.FORCE, dry_run=dry_run, at={did: at for did, (_, at) in ids.items()},
        current={did: (c.state.id, c.state.version) for did, (c, _) in ids.items()})
    return sum(1 for v in verdicts.values() if v == "done")
