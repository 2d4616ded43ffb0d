"""The API process follows partners-file reloads (ops/reload.py) like the workers do.

Every FOLLOW_EVERY seconds it asks Redis whether a reload was requested; if so it re-reads the
file and swaps its settings (pull tokens, partner lists and filters of the pull API and /ops
follow). SIGHUP to the API process requests a reload for every process. Both run in a thread:
reading a file and Redis must not block the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from syndication.errors import ConfigError
from syndication.ops import reload

log = logging.getLogger("syndication.config")


def install(app: FastAPI) -> None:
    state = app.state
    seen: list = []

    def follow() -> None:
        reload.follow(state.ctx, os.environ, seen)
        state.settings = state.ctx.settings

    def requested() -> None:
        try:
            reload.request(state.ctx, os.environ, actor="SIGHUP api")
            state.settings = state.ctx.settings
        except ConfigError as exc:
            log.error("SIGHUP: partners file rejected, the running configuration stays: %s", exc)

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

    app.router.lifespan_context = lifespan
