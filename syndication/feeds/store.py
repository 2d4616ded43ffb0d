"""Rendered feeds in Redis: render a feed into every format and store the bytes.

The API serves these stored bytes as they are (plain and pre-gzipped), with
the ETag and Last-Modified computed here once per render: nothing is
rendered or compressed on the request path.

A render runs as soon as its task does: coalescing a burst is the render
window's job (feeds/index.py), a key the render sets as it stores and whose
expiry lets the next render be queued. No worker thread waits for a window,
so more feeds than feed threads cost render time only.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

from redis.exceptions import WatchError

from syndication.articles import ArticleStore
from syndication.infra import metrics
from syndication.infra.context import Context
from syndication.feeds import index
from syndication.feeds.render import CONTENT_TYPES, render_every_format, unrenderable

log = logging.getLogger("syndication.feeds")
_reported: set[tuple[str, str, object]] = set()  # (feed, article, version) already logged as skipped


@dataclass(frozen=True)
class RenderOutcome:
    name: str
    changed: tuple[str, ...]  # formats whose bytes changed (empty: none did)
    again: bool  # the feed went dirty during the render: queue one more
    duration: float


def live_articles(ctx: Context, name: str, limit: int) -> list[dict]:
    ids = index.items(ctx, name, limit)
    # What was released to everyone, not the current data: a version an embargo holds is applied
    # a moment before `place` takes the article out of its feeds, and a render in that moment
    # must not publish it.
    return [s.released_data for s in ArticleStore.of(ctx).get_many(ids) if s and s.released_data and not s.withdrawn]


def render_all(ctx: Context, name: str) -> dict[str, bytes]:
    """Render every format of `name` from the current state (also used to check feeds).

    An item that cannot be rendered (data stored before a validation rule
    existed) is left out, counted and logged once; the feed goes on.
    """
    spec = ctx.settings.feed(name)
    articles = live_articles(ctx, name, spec.max_items)
    changed_at = float(ctx.redis.hget(ctx.keys.feed_stats(name), "changed_at") or 0)
    hub, base_url = ctx.settings.websub_hub, ctx.settings.base_url
    try:
        out = render_every_format(spec, articles, base_url, hub, changed_at)
    except Exception:
        bad = unrenderable(spec, articles, base_url)
        _skip(ctx, name, bad)
        articles = [a for a in articles if not any(a is b for b in bad)]
        out = render_every_format(spec, articles, base_url, hub, changed_at)
    # HTTP forbids a Last-Modified in the future (RFC 9110 8.8.2.1): a future-dated story must
    # not pin If-Modified-Since clients to 304.
    now = format_datetime(datetime.now(timezone.utc), usegmt=True).encode()
    if parsedate_to_datetime(out["_last_modified"].decode()) > parsedate_to_datetime(now.decode()):
        out["_last_modified"] = now
    return out


def _skip(ctx: Context, name: str, bad: list[dict]) -> None:
    for article in bad:
        metrics.inc(ctx.redis, ctx.keys, "feed_items_skipped", feed=name)
        mark = (name, article.get("id"), article.get("version"))
        if mark not in _reported:
            _reported.add(mark)
            log.error("feed item cannot be rendered; left out of the feed",
                      extra={"feed": name, "article_id": article.get("id"), "outcome": "skipped"})


def render_feed(ctx: Context, name: str) -> RenderOutcome:
    """Render and store feed `name` (its render lock taken by whoever queued this render)."""
    keys = ctx.keys
    spec = ctx.settings.feed(name)
    if spec is None:  # removed from the feeds file since it was marked
        ctx.redis.zrem(keys.feeds_dirty, name)
        ctx.redis.delete(keys.feed_render_lock(name))
        return RenderOutcome(name, (), False, 0.0)
    lock = ctx.redis.get(keys.feed_render_lock(name))  # this render's lock: stored bytes need it
    if (ctx.redis.hget(keys.feed_stats(name), "spec_hash") or b"").decode() != index.spec_hash(spec):
        index.rebuild(ctx, spec)  # a new feed, or its filters/limits changed in the feeds file
    started = time.perf_counter()
    ctx.redis.zrem(keys.feeds_dirty, name)  # before reading: later changes re-mark it
    try:
        rendered = render_all(ctx, name)
    except Exception:
        # Leave the feed dirty and free the lock: the sweeper retries it, the old bytes stay served.
        ctx.redis.zadd(keys.feeds_dirty, {name: time.time()}, nx=True)
        ctx.redis.delete(keys.feed_render_lock(name))
        raise
    duration = time.perf_counter() - started
    changed = _store(ctx, spec, rendered, lock, duration)
    if changed is None:
        # Our lock expired while we waited (a loaded worker) and a newer render may be writing:
        # older bytes must never overwrite newer ones. Leave the feed dirty for one more render.
        ctx.redis.zadd(keys.feeds_dirty, {name: time.time()}, nx=True)
        log.warning("feed render discarded: its lock expired", extra={"feed": name, "outcome": "discarded"})
        return RenderOutcome(name, (), False, duration)
    # Dirty again meanwhile: queued now only if there is no window (render_window 0); otherwise the
    # first mark after it (an apply, or the sweep) queues it.
    again = bool(ctx.redis.zscore(keys.feeds_dirty, name) is not None and index.mark_dirty(ctx, [name]))
    log.info("feed rendered", extra={"feed": name, "outcome": "changed" if changed else "unchanged",
                                     "latency_ms": round(duration * 1000, 1)})
    return RenderOutcome(name, tuple(changed), again, duration)


def _store(ctx: Context, spec, rendered: dict[str, bytes], lock: bytes | None, duration: float) -> list[str] | None:
    """Store the formats whose bytes changed, and free the lock, only if the lock is still `lock`.

    Returns the changed formats, or None when the lock changed hands (nothing written).
    """
    keys, name = ctx.keys, spec.name
    last_modified = rendered.pop("_last_modified").decode()
    etags = {fmt: '"' + hashlib.sha256(body).hexdigest()[:32] + '"' for fmt, body in rendered.items()}
    with ctx.redis.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(keys.feed_render_lock(name))
            if pipe.get(keys.feed_render_lock(name)) != lock:
                return None
            changed = [fmt for fmt in rendered
                       if pipe.hget(keys.feed_rendered(name, fmt), "etag") != etags[fmt].encode()]
            pipe.multi()
            for fmt in changed:
                pipe.hset(keys.feed_rendered(name, fmt), mapping={
                    "body": rendered[fmt], "gzip": gzip.compress(rendered[fmt], compresslevel=6, mtime=0),
                    "etag": etags[fmt], "last_modified": last_modified, "content_type": CONTENT_TYPES[fmt]})
            pipe.hincrby(keys.feed_stats(name), "renders", 1)
            metrics.inc(pipe, keys, "feed_renders", feed=name)
            metrics.observe(pipe, keys, "feed_render_seconds", duration, feed=name)
            pipe.hset(keys.feed_stats(name), mapping={"last_render_at": time.time(), "last_duration": duration,
                                                      "spec_hash": index.spec_hash(spec)})
            pipe.delete(keys.feed_render_lock(name))
            window_ms = int(ctx.settings.render_window * 1000)
            if window_ms > 0:  # no render queued until it expires (feeds/index.py)
                pipe.set(keys.feed_render_window(name), 1, px=window_ms)
            pipe.execute()
            return changed
        except WatchError:  # the lock changed between our check and our write
            return None


def etags(ctx: Context, name: str, formats) -> dict[str, str]:
    pipe = ctx.redis.pipeline(transaction=False)
    for fmt in formats:
        pipe.hget(ctx.keys.feed_rendered(name, fmt), "etag")
    return {fmt: (e or b"").decode() for fmt, e in zip(formats, pipe.execute())}
