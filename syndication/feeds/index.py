"""Which articles each feed holds, and which feeds need re-rendering.

Each feed keeps a sorted set of article ids scored by publish time, capped a
little above `max_items` so a withdrawal does not leave the feed short.
Applying an event places the article in every feed it matches and removes
it from the others; each feed that changed is marked dirty.

Coalescing, and no thread waits for it: a dirty feed gets at most one
queued-or-running render (the render lock), and none is queued while its
render window lives (`feed:{name}:render_window`, set by a render as it
stores its bytes, expiring `render_window` seconds later). Events arriving
meanwhile only mark the feed dirty; the first mark after the window expired
(an apply batch, or the sweep once a second: the trailing render of a burst)
takes the lock and queues the render, which then reads every event up to
that moment. A burst of N events therefore costs about (burst length /
render window) renders per feed, not N, and its last event is rendered
within about a window and a sweep.

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

# KEYS[1] feeds:dirty, KEYS[2] the feed's render lock, KEYS[3] its render window. ARGV: name, now,
# lock token, lock TTL. Marks the feed dirty; returns 1 when the caller took the lock and must queue
# a render (no render queued or running, no window open).
_MARK_DIRTY = """
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
return redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[4]) and 1 or 0
"""

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
    """Mark feeds dirty; return those that need a render task queued (lock taken: see the docstring)."""
    if not names:
        return []
    pipe = ctx.redis.pipeline(transaction=False)
    taken = queue_mark_dirty(ctx, pipe, names)
    return taken(pipe.execute())


def queue_mark_dirty(ctx: Context, pipe, names: list[str]):
    """Queue `mark_dirty` on `pipe`; returns a function that reads the feeds to queue from the
    replies of these commands (one per feed: a `Transaction.group` of them, infra/transaction.py)."""
    now, script = time.time(), ctx.script(_MARK_DIRTY)
    for name in names:
        script(keys=[ctx.keys.feeds_dirty, ctx.keys.feed_render_lock(name), ctx.keys.feed_render_window(name)],
               args=[name, now, lock_token(), RENDER_LOCK_TTL], client=pipe)

    def taken(results: list) -> list[str]:
        return [name for name, locked in zip(names, results, strict=True) if locked]

    return taken


def items(ctx: Context, name: str, limit: int) -> list[str]:
    """Article ids of the feed, newest first (ties broken by id for stable output)."""
    pairs = ctx.redis.zrevrange(ctx.keys.feed_items(name), 0, limit - 1, withscores=True)
    pairs = [(a.decode(), s) for a, s in pairs]
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return [a for a, _ in pairs]


def orphaned_dirty(ctx: Context) -> list[str]:
    """Dirty feeds with no render queued and no window open (the trailing render of a burst, or a
    render task lost): the sweeper queues them."""
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
