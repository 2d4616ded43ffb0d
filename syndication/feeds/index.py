"""Which articles each feed holds, and which feeds need re-rendering.

Each feed keeps a sorted set of article ids scored by publish time, capped a
little above `max_items` so a withdrawal does not leave the feed short.
Applying an event places the article in every feed it matches and removes
it from the others; each feed that changed is marked dirty.

Coalescing: a dirty feed gets at most one queued-or-running render (the
render lock). Events arriving during a render only re-mark the feed dirty;
the render, when done, re-queues itself once if that happened. A burst of
N events therefore costs about (burst length / render window) renders per
feed, not N.

An article under embargo (`article.embargoed` still ahead, see `public`) is
in no feed: placing it takes it out of every feed, and the embargo release
(pipeline/embargo.py) places it again when the instant has come.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from syndication.articles import ArticleState, ArticleStore
from syndication.infra.context import Context

RENDER_LOCK_TTL = 30  # seconds; bounds recovery when a feeds worker dies mid-render

# KEYS[1] feed stats hash. ARGV[1] time: keep the larger of stored and given changed_at.
_BUMP_CHANGED = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'changed_at') or '0')
if tonumber(ARGV[1]) > cur then redis.call('HSET', KEYS[1], 'changed_at', ARGV[1]) end
return 1
"""


def _ts(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else 0.0


def change_time(state: ArticleState, occurred_at: str | None) -> float:
    """When the article last changed, from the data (never the clock): byte-stable feeds."""
    data = state.data or {}
    return max(_ts(data.get("updated_at")), _ts(data.get("published_at")), _ts(occurred_at))


def public(state: ArticleState, now: float | None = None) -> bool:
    """May the article be in a feed now: it has data, is not withdrawn and no embargo lies ahead."""
    return state.public_now(now)


def place(ctx: Context, state: ArticleState, occurred_at: str | None = None) -> list[str]:
    """Put the article in the feeds it now matches, out of the rest; return the feeds that changed."""
    pipe = ctx.redis.pipeline(transaction=False)
    placing = queue_place(ctx, pipe, state)
    changed = placing(iter(pipe.execute()))
    bump = ctx.script(_BUMP_CHANGED)
    when = change_time(state, occurred_at)
    for name in changed:
        bump(keys=[ctx.keys.feed_stats(name)], args=[when])
    return changed


def queue_place(ctx: Context, pipe, state: ArticleState):
    """Queue `place`'s writes on `pipe`; returns a function that reads the changed feeds from its results."""
    live = public(state)
    plan = []
    for spec in ctx.settings.feeds:
        key = ctx.keys.feed_items(spec.name)
        if live and spec.filters.matches(state.data):
            pipe.zadd(key, {state.id: _ts(state.data.get("published_at"))})
            pipe.zremrangebyrank(key, 0, -(spec.index_cap + 1))
            plan.append((spec.name, True))
        else:
            pipe.zrem(key, state.id)
            plan.append((spec.name, False))
    if live:
        pipe.zadd(ctx.keys.articles, {state.id: _ts(state.data.get("published_at"))})

    def changed(results) -> list[str]:
        out = []
        for name, matched in plan:
            first = next(results)
            if matched:
                next(results)
                out.append(name)  # new or updated content either way
            elif first:
                out.append(name)  # removed
        if live:
            next(results)
        return out

    return changed


def queue_bump(ctx: Context, pipe, name: str, when: float) -> None:
    """Queue on `pipe`: the feed's content changed at `when` (kept if later than what is stored)."""
    ctx.script(_BUMP_CHANGED)(keys=[ctx.keys.feed_stats(name)], args=[when], client=pipe)


def lock_token() -> str:
    """A render lock's value, unique to the one render it admits (store.py writes only while it holds)."""
    return uuid.uuid4().hex


def mark_dirty(ctx: Context, names: list[str]) -> list[str]:
    """Mark feeds dirty; return those that need a render task queued (no lock held yet)."""
    if not names:
        return []
    pipe = ctx.redis.pipeline(transaction=False)
    taken = queue_mark_dirty(ctx, pipe, names)
    return taken(pipe.execute())


def queue_mark_dirty(ctx: Context, pipe, names: list[str]):
    """Queue `mark_dirty` on `pipe`; returns a function that reads the feeds to queue from the results
    (the last 2 x len(names) of them)."""
    now = time.time()
    for name in names:
        pipe.zadd(ctx.keys.feeds_dirty, {name: now}, nx=True)
        pipe.set(ctx.keys.feed_render_lock(name), lock_token(), nx=True, ex=RENDER_LOCK_TTL)

    def taken(results: list) -> list[str]:
        mine = results[len(results) - 2 * len(names):] if names else []
        return [name for name, locked in zip(names, mine[1::2]) if locked]

    return taken


def items(ctx: Context, name: str, limit: int) -> list[str]:
    """Article ids of the feed, newest first (ties broken by id for stable output)."""
    pairs = ctx.redis.zrevrange(ctx.keys.feed_items(name), 0, limit - 1, withscores=True)
    pairs = [(a.decode(), s) for a, s in pairs]
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return [a for a, _ in pairs]


def orphaned_dirty(ctx: Context) -> list[str]:
    """Dirty feeds with no render queued (its task was lost): the sweeper re-queues them."""
    names = [n.decode() for n in ctx.redis.zrange(ctx.keys.feeds_dirty, 0, -1)]
    return mark_dirty(ctx, names) if names else []


def rebuild(ctx: Context, spec) -> int:
    """Refill a feed's index from every stored article (its definition changed)."""
    key = ctx.keys.feed_items(spec.name)
    ids = [a.decode() for a in ctx.redis.zrevrange(ctx.keys.articles, 0, -1)]
    members: dict[str, float] = {}
    for start in range(0, len(ids), 500):
        for state in ArticleStore.of(ctx).get_many(ids[start:start + 500]):
            if state and public(state) and spec.filters.matches(state.data):
                members[state.id] = _ts(state.data.get("published_at"))
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.delete(key)
    if members:
        pipe.zadd(key, members)
        pipe.zremrangebyrank(key, 0, -(spec.index_cap + 1))
    pipe.execute()
    return len(members)


def spec_hash(spec) -> str:
    import hashlib

    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:16]


def stale_definitions(ctx: Context) -> list[str]:
    """Feeds never rendered, or rendered from a definition that has since changed."""
    pipe = ctx.redis.pipeline(transaction=False)
    for spec in ctx.settings.feeds:
        pipe.hget(ctx.keys.feed_stats(spec.name), "spec_hash")
    return [spec.name for spec, h in zip(ctx.settings.feeds, pipe.execute())
            if (h or b"").decode() != spec_hash(spec)]


def orphaned_dirty_one(ctx: Context, name: str) -> bool:
    """After a render: if the feed went dirty meanwhile, take the lock for one more render."""
    if ctx.redis.zscore(ctx.keys.feeds_dirty, name) is None:
        return False
    return bool(ctx.redis.set(ctx.keys.feed_render_lock(name), lock_token(), nx=True, ex=RENDER_LOCK_TTL))
