"""News sitemaps from the article store: what they list now, and their bytes kept in Redis.

Two sitemap sets: `news` (every feed with a `news_sitemap`, /sitemaps/news.xml) and
`news/{feed}` (one feed's, /sitemaps/news/{feed}.xml). A set is built on request, not
by a worker: it depends on the clock (the two-day window slides), which no event marks.

Building reads every article first published in the window (`keys.articles`, scored
by publication time) and keeps what feeds show: not withdrawn, no embargo ahead, and
its *released* data (articles.py), so a version an embargo holds never shows, even in
the instant before the pipeline takes it out of the feeds.

The built files are kept in one hash per set (`keys.sitemap`) under a fingerprint of
everything they depend on: the newest change log entry (every version that becomes
public or is withdrawn appends one, pipeline/changelog.py), the ids in the window now,
the sitemap feeds' definitions and the base URL. A request whose fingerprint matches
is answered from the stored bytes (two cheap reads); any change, including an article
leaving the window, rebuilds the set at once, so a withdrawn article is never served
from a stale copy. One request rebuilds (a Redis lock per set, `keys.sitemap_build_lock`,
SET NX PX through redis-py's Lock); requests arriving meanwhile wait for its files rather
than serve the old ones (which may list what was just withdrawn) or build the same set again;
a builder gone for BUILD_WAIT seconds is taken over. Each build is counted in
`syndication_sitemap_builds_total{sitemap}`. ETags are the bytes' digest; Last-Modified is when a file's bytes
last changed (kept across rebuilds that change nothing), as the feeds do.

    file, count = sitemap_store.fetch(ctx, None, specs, now, n)   # n = 0: the sitemap (or index); 1..: pages
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from datetime import datetime, timezone

from redis.exceptions import LockError

from syndication.articles import ArticleStore
from syndication.feeds import sitemap
from syndication.feeds.index import public
from syndication.feeds.spec import FeedSpec
from syndication.infra import metrics
from syndication.infra.context import Context

KEEP = 3 * 86400  # a set nobody asks for expires (feeds removed from the file leave nothing behind)
BUILD_LOCK_TTL = 30.0  # seconds: a builder that dies frees the set for the next request by then
BUILD_WAIT = 10.0  # seconds a request waits for another's build before building the set itself
BUILD_POLL = 0.02  # seconds between looks at whether that build is stored
_READ_BATCH = 500


@dataclass(frozen=True)
class SitemapFile:
    body: bytes
    etag: str
    last_modified: str  # HTTP date


def sources(feeds, feed: str | None = None) -> list[FeedSpec]:
    """The feeds whose articles a set lists, in file order (the first that matches names an article's publication)."""
    return [f for f in feeds if f.news_sitemap and (feed is None or f.name == feed)]


def set_name(feed: str | None) -> str:
    return "news" if feed is None else f"news/{feed}"


def url(base_url: str, feed: str | None, page: int | None = None) -> str:
    path = "/sitemaps/news.xml" if feed is None else f"/sitemaps/news/{feed}.xml"
    return f"{base_url}{path}" + (f"?page={page}" if page else "")


def fingerprint(ctx: Context, specs: list[FeedSpec], now: float) -> tuple[str, list[str]]:
    """What the set's bytes depend on, digested; and the ids in the window (newest first)."""
    pipe = ctx.redis.pipeline(transaction=False)
    pipe.xrevrange(ctx.keys.changelog, count=1)
    pipe.zrevrangebyscore(ctx.keys.articles, now, now - sitemap.WINDOW)
    last, ids = pipe.execute()
    digest = hashlib.sha256(ctx.settings.base_url.encode())
    for spec in specs:
        digest.update(spec.model_dump_json().encode())
    digest.update(b"|" + (last[0][0] if last else b"") + b"|")
    digest.update(b"\n".join(ids))
    return digest.hexdigest()[:32], [i.decode() for i in ids]


def collect(ctx: Context, specs: list[FeedSpec], ids: list[str], now: float) -> list[sitemap.NewsEntry]:
    candidates, articles = [], ArticleStore.of(ctx)
    for start in range(0, len(ids), _READ_BATCH):
        for state in articles.get_many(ids[start:start + _READ_BATCH]):
            if state is None or not public(state, now) or not state.released_data:
                continue  # withdrawn, held by an embargo, or never released
            spec = next((s for s in specs if s.filters.matches(state.released_data)), None)
            if spec is not None:
                candidates.append((state.released_data, spec))
    return sitemap.select(candidates, now)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _http_date(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts, tz=timezone.utc), usegmt=True)


def build(ctx: Context, feed: str | None, specs: list[FeedSpec], ids: list[str], now: float,
          previous: dict[int, SitemapFile]) -> dict[int, SitemapFile]:
    """Every file of the set: {0: the sitemap (or the index of its pages), 1..n: the pages}."""
    pages = sitemap.paginate(collect(ctx, specs, ids, now))

    def made(body: bytes, n: int) -> SitemapFile:
        etag = _etag(body)
        old = previous.get(n)
        return SitemapFile(body, etag, old.last_modified if old and old.etag == etag else _http_date(now))

    if len(pages) <= 1:
        return {0: made(sitemap.urlset(pages[0] if pages else []), 0)}
    files = {n: made(sitemap.urlset(page), n) for n, page in enumerate(pages, 1)}
    listing = [(url(ctx.settings.base_url, feed, n), parsedate_to_datetime(f.last_modified).isoformat())
               for n, f in files.items()]
    files[0] = made(sitemap.index(listing), 0)
    return files


def _previous(ctx: Context, key: str) -> dict[int, SitemapFile]:
    """The stored files' ETags and Last-Modified (no bodies): what a rebuild keeps for unchanged files."""
    count = int(ctx.redis.hget(key, "files") or 0)
    fields = [f"{n}:{part}" for n in range(count) for part in ("etag", "last_modified")]
    values = ctx.redis.hmget(key, fields) if fields else []
    return {n: SitemapFile(b"", (values[2 * n] or b"").decode(), (values[2 * n + 1] or b"").decode())
            for n in range(count)}


def fetch(ctx: Context, feed: str | None, specs: list[FeedSpec], now: float,
          n: int = 0) -> tuple[SitemapFile | None, int]:
    """File `n` of the set as it is now (0: the sitemap or its index; 1..: pages), and how many files
    the set has. Served from Redis if nothing it depends on changed (reading that one file only),
    else the set is rebuilt and stored first: by one request at a time (the build lock), the others
    waiting for its files, at most BUILD_WAIT seconds before they build it themselves."""
    name = set_name(feed)
    key = ctx.keys.sitemap(name)
    deadline = time.monotonic() + BUILD_WAIT
    while True:
        print_, ids = fingerprint(ctx, specs, now)
        found = _stored(ctx, key, print_, n)
        if found is not None:
            return found
        lock = ctx.redis.lock(ctx.keys.sitemap_build_lock(name), timeout=BUILD_LOCK_TTL)
        if lock.acquire(blocking=False):
            try:
                # Looked at again under the lock: a build may have been stored since the look above.
                found = _stored(ctx, key, print_, n)
                if found is not None:
                    return found
                files = _rebuild(ctx, feed, specs, ids, now, print_)
            finally:
                _release(lock)
            return files.get(n), len(files)
        if not _wait_for_build(ctx, key, ctx.keys.sitemap_build_lock(name), print_, deadline):
            # The builder is stuck or gone past the wait: build it here (correct, if not cheap).
            files = _rebuild(ctx, feed, specs, ids, now, print_)
            return files.get(n), len(files)


def _stored(ctx: Context, key: str, print_: str, n: int) -> tuple[SitemapFile | None, int] | None:
    """(file `n`, how many files) if the set is stored under `print_`; None if it needs building."""
    stored, count, body, etag, modified = ctx.redis.hmget(key, "fingerprint", "files", f"{n}:body", f"{n}:etag",
                                                          f"{n}:last_modified")
    if (stored or b"").decode() != print_ or not count:
        return None
    return (SitemapFile(body, etag.decode(), modified.decode()) if body is not None else None), int(count)


def _wait_for_build(ctx: Context, key: str, lock_key: str, print_: str, deadline: float) -> bool:
    """Wait until the set is stored under `print_` or no one holds the build lock any more (then the
    caller looks again: the builder may have seen a newer change). False once `deadline` passed.

    Polls two cheap reads: a rebuild takes milliseconds to a second, and a crawler's request may
    well wait that long, where a burst of them each rebuilding the same set would not."""
    while time.monotonic() < deadline:
        stored, held = ctx.redis.hget(key, "fingerprint"), ctx.redis.exists(lock_key)
        if (stored or b"").decode() == print_ or not held:
            return True
        time.sleep(BUILD_POLL)
    return False


def _release(lock) -> None:
    try:
        lock.release()
    except LockError:  # held past its TTL and taken over: the files were still stored
        pass


def _rebuild(ctx: Context, feed: str | None, specs: list[FeedSpec], ids: list[str], now: float,
             print_: str) -> dict[int, SitemapFile]:
    """Build the set and store it under `print_`; counted (`syndication_sitemap_builds_total`)."""
    key = ctx.keys.sitemap(set_name(feed))
    files = build(ctx, feed, specs, ids, now, _previous(ctx, key))
    mapping: dict[str, bytes | str | int] = {"fingerprint": print_, "files": len(files)}
    for i, f in files.items():
        mapping.update({f"{i}:body": f.body, f"{i}:etag": f.etag, f"{i}:last_modified": f.last_modified})
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.delete(key)  # a set that shrank leaves no page behind
    pipe.hset(key, mapping=mapping)
    pipe.expire(key, KEEP)
    metrics.inc(pipe, ctx.keys, "sitemap_builds", sitemap=set_name(feed))
    pipe.execute()
    return files
