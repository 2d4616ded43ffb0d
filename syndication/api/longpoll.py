"""Long polls of the pull API: one change-log reader per API process, and bounds on open waits.

A waiting pull request (`wait=S`) must not hold a Redis connection while it waits: the API's
asyncio pool is capped (infra/redis_client.py; redis-py 8 raises at the cap, STACK.md trap 17),
and a few hundred XREAD BLOCKs on it would leave every feed, /readyz and every other partner
without a connection (issue 22, item 2). So each API process runs ONE reader task: it blocks in
XREAD on a client of its own (one connection, nobody else's) and, when the log grows, wakes every
waiter at once; a waiter then reads what is new for it with XRANGE on the shared pool, for a
moment, like a request that did not wait.

    watcher = longpoll.watcher(app.state)    # the process's reader, started on first use
    token = watcher.token()                   # take it BEFORE reading the log ...
    woke = await watcher.wait(token, 2.0)     # ... then nothing appended after the read is missed
    with longpoll.admit(app.state, partner_id): ...   # 429 past the per-partner or total bound

Why the token comes first: the reader swaps in a fresh asyncio.Event and sets the old one after
every growth it sees. An entry appended after a waiter's XRANGE is seen by the reader after that,
so it sets the event the waiter holds (or a later one: then `wait` answers at once).

The reader survives Redis restarts (it reconnects with capped exponential backoff, rereads the
newest id and wakes everyone, since it may have missed entries meanwhile); while it is down,
waiters poll with XRANGE every slice, so an outage costs latency, never an item. It is cancelled
at shutdown (install wraps the app's lifespan).

Open waits are bounded per API process: `pull_max_waits_per_partner` (one partner's clients
cannot take them all) and `pull_max_waits` (well under uvicorn's connection limit, so feeds and
other requests always get a connection). Past either, 429 `too_many_long_polls` with Retry-After.
Both are read from the current settings at each admission, so a reload applies at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from contextlib import asynccontextmanager, contextmanager

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from syndication.infra.redis_client import aconnect_settings
from syndication.pipeline import changelog

log = logging.getLogger("syndication.api")

BLOCK = 5.0  # seconds per XREAD BLOCK of the reader (its own socket timeout is longer)
BACKOFF_MIN, BACKOFF_MAX = 0.1, 5.0  # reconnect delays of the reader after a Redis error
RETRY_AFTER = 5  # seconds a refused long poll is told to wait


class TooManyWaits(HTTPException):
    def __init__(self, detail: str):
        super().__init__(429, detail, headers={"Retry-After": str(RETRY_AFTER)})


async def _too_many_waits(request: Request, exc: TooManyWaits) -> JSONResponse:
    return JSONResponse({"error": "too_many_long_polls", "detail": exc.detail}, status_code=429,
                        headers=exc.headers)


class ChangeWatcher:
    """The one reader of the change log in this process; waiters wait on its event."""

    def __init__(self, state):
        self._state = state
        self._event = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._client = None
        self.healthy = False  # the reader is blocked in XREAD right now (else waiters poll)
        self.newest = changelog.START  # the newest entry id this process knows of

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pull-changelog-reader")

    def token(self) -> asyncio.Event:
        self.start()
        return self._event

    async def wait(self, token: asyncio.Event, timeout: float) -> bool:
        """True when the log grew after `token` was taken; False after `timeout` seconds."""
        if token.is_set():
            return True
        try:
            await asyncio.wait_for(token.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def saw(self, stream_id: str | bytes | None) -> None:
        """Note an id known to exist (a page read, XINFO): `newest` only moves forward."""
        if stream_id is not None and changelog.beyond(_text(stream_id), self.newest):
            self.newest = _text(stream_id)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
            log.info("pull: change log reader stopped")
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _wake(self) -> None:
        fired, self._event = self._event, asyncio.Event()
        fired.set()

    async def _newest(self, key: str) -> str:
        last = await self._client.xrevrange(key, "+", "-", count=1)
        return _text(last[0][0]) if last else changelog.START

    async def _run(self) -> None:
        delay, down_since = BACKOFF_MIN, None
        key = self._state.ctx.keys.changelog
        while True:
            try:
                if self._client is None:
                    # One connection of its own, never the shared pool's; a socket timeout past the block;
                    # no silent retries: a lost connection must come here, to reread the newest id.
                    self._client = aconnect_settings(self._state.ctx.settings, max_connections=1, pool_wait=1.0,
                                                     socket_timeout=BLOCK + 5, retries=0)
                last = await self._newest(key)
                # Set, not `saw`: after a restart or a failover the log may be shorter than it was.
                self.newest = last
                self.healthy = True
                if down_since is not None:
                    log.info("pull: change log reader reconnected after %.1f s", asyncio.get_running_loop().time()
                             - down_since)
                    down_since = None
                self._wake()  # entries may have come while it was away or starting
                delay = BACKOFF_MIN
                while True:
                    found = await self._client.xread({key: last}, count=1, block=int(BLOCK * 1000))
                    if found:
                        # The newest id, not the one entry read: a burst wakes waiters once, not per entry.
                        read, newest = _text(found[0][1][-1][0]), await self._newest(key)
                        last = read if changelog.beyond(read, newest) else newest
                        self.saw(last)
                        self._wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away or refusing: back off, reconnect; waiters poll meanwhile
                self.healthy = False
                if down_since is None:
                    down_since = asyncio.get_running_loop().time()
                    log.warning("pull: change log reader lost Redis (%s: %s); reconnecting", type(exc).__name__,
                                exc)
                self._wake()
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def watcher(state) -> ChangeWatcher:
    found = getattr(state, "pull_watcher", None)
    if found is None:
        found = state.pull_watcher = ChangeWatcher(state)
    found.start()
    return found


@contextmanager
def admit(state, partner_id: str):
    """Count one open long poll of `partner_id` for the block's duration; TooManyWaits (429) past a bound."""
    settings = state.ctx.settings
    by_partner: Counter = getattr(state, "pull_waits", None)
    if by_partner is None:
        by_partner = state.pull_waits = Counter()
    if by_partner[partner_id] >= settings.pull_max_waits_per_partner:
        raise TooManyWaits(f"too many open long polls for partner {partner_id!r}: at most "
                           f"{settings.pull_max_waits_per_partner} per partner on this server; retry after "
                           f"{RETRY_AFTER} s, or ask without `wait`")
    if by_partner.total() >= settings.pull_max_waits:
        raise TooManyWaits(f"too many open long polls on this server: at most {settings.pull_max_waits} in all; "
                           f"retry after {RETRY_AFTER} s, or ask without `wait`")
    by_partner[partner_id] += 1
    try:
        yield
    finally:
        by_partner[partner_id] -= 1
        if by_partner[partner_id] <= 0:
            del by_partner[partner_id]


def install(app) -> None:
    """The 429 handler, and the reader's cancellation at shutdown (wrapping the lifespan set so far)."""
    app.add_exception_handler(TooManyWaits, _too_many_waits)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        async with inner(a):
            try:
                yield
            finally:
                found = getattr(a.state, "pull_watcher", None)
                if found is not None:
                    await found.stop()

    app.router.lifespan_context = lifespan
