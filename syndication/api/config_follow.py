"""The API process follows partners-file reloads (ops/reload.py) like the workers do.

Every FOLLOW_EVERY seconds it asks Redis whether a reload was requested; if so it re-reads its
own file and swaps its settings (pull tokens, partner lists and filters of the pull API, backfill
and /ops follow), then reports the version it runs in `config:running` (ops/running_config.py),
at once and every HEARTBEAT seconds: `partners reload` returns only when every API process has
reported it, so a script's next HTTP call already sees the new partners. SIGHUP to the API
process requests a reload for every process. Both run in a thread: reading a file and Redis
must not block the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from syndication.errors import ConfigError
from syndication.ops import reload, running_config

log = logging.getLogger("syndication.config")


def install(app: FastAPI) -> None:
    state = app.state
    following = reload.Following()
    name = f"api@{socket.gethostname()}:{os.getpid()}"
    next_report = [0.0]

    def follow() -> None:
        moved = reload.follow(state.ctx, following)
        state.settings = state.ctx.settings  # before the report: a caller told "applied" must see it
        now = time.time()
        if moved or now >= next_report[0]:
            reload.report(state.ctx, name, "api", following)
            next_report[0] = now + running_config.HEARTBEAT

    def requested() -> None:
        try:
            reload.request(state.ctx, actor="SIGHUP api")
        except ConfigError as exc:
            log.error("SIGHUP: partners reload refused, the running configuration stays: %s", exc)

    def leave() -> None:
        try:
            running_config.leave(state.ctx, name)
        except Exception as exc:  # Redis away at shutdown: the entry goes offline by itself
            log.debug("config follow: %s", exc)

    async def loop() -> None:
        while True:
            try:
                await run_in_threadpool(follow)
            except Exception as exc:  # Redis away: try again next round; the API keeps serving
                log.debug("config follow: %s", exc)
            await asyncio.sleep(reload.FOLLOW_EVERY)

    @asynccontextmanager
    async def lifespan(_app):
        task = asyncio.get_running_loop().create_task(loop())
        try:
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGHUP, lambda: asyncio.ensure_future(run_in_threadpool(requested)))
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (in-process test apps)
            pass
        try:
            yield
        finally:
            task.cancel()
            await run_in_threadpool(leave)

    app.router.lifespan_context = lifespan
