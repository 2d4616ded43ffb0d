"""Rendered feeds in Redis: render a feed into every format and store the bytes.

The API serves these stored bytes as they are (plain and pre-gzipped), with
the ETag and Last-Modified computed here once per render: nothing is
rendered or compressed on the request path.
"""

from __future__ import annotations

import gzip
import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
import logging
from email.utils import format_datetime

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


@dataclass(frozen=True)
class StoredFeed:
    body: bytes
    gzip: bytes
    etag: str
    last_modified: str
    content_type: str


def live_articles(ctx: Context, name: str, limit: int) -> list[dict]:
    ids = index.items(ctx, name, limit)
    return [s.data for s in ctx.articles.get_many(ids) if s and s.data and not s.withdrawn]


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


def render_feed(ctx: Context, name: str, sleep=time.sleep) -> RenderOutcome:
    """Render and store feed `name`, coalescing bursts into one render per window."""
    keys = ctx.keys
    if ctx.settings.feed(name) is None:  # removed from the feeds file since it was marked
        ctx.redis.zrem(keys.feeds_dirty, name)
        ctx.redis.delete(keys.feed_render_lock(name))
        return RenderOutcome(name, (), False, 0.0)
    spec = ctx.settings.feed(name)
    last_render, rendered_hash = ctx.redis.hmget(keys.feed_stats(name), "last_render_at", "spec_hash")
    if (rendered_hash or b"").decode() != index.spec_hash(spec):
        index.rebuild(ctx, spec)  # a new feed, or its filters/limits changed in the feeds file
    last = float(last_render or 0)
    wait = ctx.settings.render_window - (time.time() - last)
    if wait > 0:
        sleep(wait)  # let the burst gather: the events arriving now are in this render
    started = time.perf_counter()
    ctx.redis.zrem(keys.feeds_dirty, name)  # before reading: later changes re-mark it
    try:
        rendered = render_all(ctx, name)
    except Exception:
        # Leave the feed dirty and free the lock: the sweeper retries it, the old bytes stay served.
        ctx.redis.zadd(keys.feeds_dirty, {name: time.time()}, nx=True)
        ctx.redis.delete(keys.feed_render_lock(name))
        raise
    last_modified = rendered.pop("_last_modified").decode()
    changed = []
    pipe = ctx.redis.pipeline(transaction=False)
    for fmt, body in rendered.items():
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        key = keys.feed_rendered(name, fmt)
        if ctx.redis.hget(key, "etag") == etag.encode():
            continue
        changed.append(fmt)
        pipe.hset(key, mapping={
            "body": body,
            "gzip": gzip.compress(body, compresslevel=6, mtime=0),
            "etag": etag,
            "last_modified": last_modified,
            "content_type": CONTENT_TYPES[fmt],
        })
    duration = time.perf_counter() - started
    pipe.hincrby(keys.feed_stats(name), "renders", 1)
    metrics.inc(pipe, keys, "feed_renders", feed=name)
    metrics.observe(pipe, keys, "feed_render_seconds", duration, feed=name)
    pipe.hset(keys.feed_stats(name), mapping={"last_render_at": time.time(), "last_duration": duration,
                                              "spec_hash": index.spec_hash(spec)})
    pipe.delete(keys.feed_render_lock(name))
    pipe.execute()
    again = bool(index.orphaned_dirty_one(ctx, name))
    log.info("feed rendered", extra={"feed": name, "outcome": "changed" if changed else "unchanged",
                                     "latency_ms": round(duration * 1000, 1)})
    return RenderOutcome(name, tuple(changed), again, duration)


def etags(ctx: Context, name: str, formats) -> dict[str, str]:
    pipe = ctx.redis.pipeline(transaction=False)
    for fmt in formats:
        pipe.hget(ctx.keys.feed_rendered(name, fmt), "etag")
    return {fmt: (e or b"").decode() for fmt, e in zip(formats, pipe.execute())}


def fetch(ctx: Context, name: str, fmt: str) -> StoredFeed | None:
    h = ctx.redis.hgetall(ctx.keys.feed_rendered(name, fmt))
    if not h:
        return None
    return StoredFeed(
        body=h[b"body"], gzip=h[b"gzip"], etag=h[b"etag"].decode(),
        last_modified=h[b"last_modified"].decode(), content_type=h[b"content_type"].decode(),
    )
