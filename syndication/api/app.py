"""The FastAPI application: routers, shared state, and one error handler table.

    app = create_app(settings, enqueue=lambda follow_up: ...)

`enqueue` is how an accepted event reaches the events queue: it takes the
same FollowUp every pipeline step returns, and the composition root
(cli.build_api) passes workers.tasks.dispatch, so this package never
imports Celery. Every error maps to a JSON body with a clear message:
bad input is 4xx, an unreachable Redis is 503, never a 500.
"""

from __future__ import annotations

import logging
from typing import Callable

import redis
import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from syndication import __version__
from syndication.infra.context import Context
from syndication.errors import (ConfigError, InvalidEvent, NotFound, NotReplicated, PartnerDisabled, QueueUnavailable,
                                SyndicationError)
from syndication.infra.redis_client import aconnect_settings
from syndication.pipeline.followup import FollowUp
from syndication.settings import Settings
from syndication.infra import metrics
from syndication.api import (article_routes, backfill_routes, delivery_routes, event_routes, feed_routes, health,
                             keys_routes, metrics_routes, ops_guard, ops_page, portal_page, pull_routes,
                             sitemap_routes, websub_routes)

log = logging.getLogger("syndication.api")


def _error(status: int, error: str, detail: str, headers=None, **extra) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status, headers=headers)


# One table from HTTP status to error name: every JSON error body says one of these.
HTTP_ERRORS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 410: "gone", 413: "body_too_large", 415: "unsupported_media_type",
               422: "invalid_request", 429: "too_many_attempts", 500: "internal_error", 503: "unavailable"}
# One table from the core's errors (errors.py) to status, error name, and the detail a client
# sees when it is not the exception's own message (server-side errors say only where to look).
DOMAIN_ERRORS: dict[type, tuple[int, str, str]] = {
    InvalidEvent: (422, "invalid_event", ""),
    NotFound: (404, "not_found", ""),  # an unknown article, delivery, partner or feed
    PartnerDisabled: (409, "partner_disabled", ""),
    # Stored, but not queued: a retry with the same event_id (200) queues it again.
    QueueUnavailable: (503, "unavailable", "the queue is unreachable; retry with the same event_id"),
    # Stored on the primary, but no replica confirmed it in time (SYNDICATION_REDIS_MIN_REPLICAS).
    NotReplicated: (503, "unavailable", "no replica confirmed the event in time; retry with the same event_id"),
    ConfigError: (500, "internal_error", "the service is misconfigured; see the service log"),
    SyndicationError: (500, "internal_error", "unexpected error; see the service log"),
}
# Redis errors that mean "not reachable right now": the client should retry. Any other Redis
# error (a script error, OOM with noeviction) is ours, and retrying the same request won't help.
_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError,
                aioredis.ConnectionError, aioredis.TimeoutError)


def _install_error_handlers(app: FastAPI) -> None:
    def rejected(request: Request, reason: str) -> None:
        if request.url.path == "/v1/events":
            try:
                metrics.inc(request.app.state.ctx.redis, request.app.state.ctx.keys, "events_rejected",
                                 reason=reason)
            except redis.RedisError:
                pass  # counting must never turn a 4xx into a 5xx

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return _error(422, "invalid_request", "; ".join(f"{p['field']}: {p['message']}" for p in problems),
                      problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code in (401, 413, 415):
            rejected(request, HTTP_ERRORS[exc.status_code])
        return _error(exc.status_code, HTTP_ERRORS.get(exc.status_code, "error"), str(exc.detail),
                      headers=getattr(exc, "headers", None))

    @app.exception_handler(redis.RedisError)
    @app.exception_handler(aioredis.RedisError)
    async def redis_error(request: Request, exc: Exception):
        if isinstance(exc, _UNREACHABLE):
            log.warning("redis unavailable: %s", exc)
            return _error(503, "unavailable", "the state store is unreachable; retry with the same event_id",
                          headers={"Retry-After": "1"})
        log.error("redis refused a command: %s", exc)
        return _error(500, "internal_error", "the state store refused the operation; see the service log")

    @app.exception_handler(SyndicationError)
    async def domain_error(request: Request, exc: SyndicationError):
        status, name, public = next(DOMAIN_ERRORS[c] for c in type(exc).__mro__ if c in DOMAIN_ERRORS)
        if status == 503:
            log.warning("%s: %s", type(exc).__name__, exc)
            return _error(status, name, public, headers={"Retry-After": "1"})
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)  # the server's fault: the detail stays in the log
            return _error(status, name, public)
        if isinstance(exc, InvalidEvent):
            rejected(request, "invalid")
            return _error(status, name, str(exc), problems=exc.problems)
        return _error(status, name, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.error("unexpected error", exc_info=exc)
        return _error(500, "internal_error", "unexpected error; see the service log")


def create_app(settings: Settings, enqueue: Callable[[FollowUp], None], ctx: Context | None = None) -> FastAPI:
    # /docs and /redoc are docs_page's: FastAPI's own would load their assets from a CDN.
    app = FastAPI(title="syndication", version=__version__, docs_url=None, redoc_url=None,
                  description="Article events in; RSS/Atom/JSON feeds and signed partner pushes out.")
    app.state.settings = settings
    app.state.ctx = ctx or Context.build(settings)
    app.state.aredis = aconnect_settings(settings)  # bounded: nothing holds one of its connections for long
    # /readyz asks on a pool of its own, which no burst of requests can use up.
    app.state.aredis_health = aconnect_settings(settings, max_connections=2, pool_wait=1.0)
    app.state.enqueue = enqueue
    app.state.feed_keys = settings.feed_keys
    app.state.metrics = metrics_routes.ApiMetrics(app.state.ctx)
    for module in (event_routes, article_routes, delivery_routes, backfill_routes, feed_routes, health,
                   metrics_routes, ops_page, portal_page, pull_routes, keys_routes, sitemap_routes, websub_routes):
        app.include_router(module.router)
    _install_error_handlers(app)
    from syndication.api import config_follow, docs_page, longpoll, pages, schema

    docs_page.install(app)  # /docs, /redoc: assets served by us (works offline)
    pages.install(app)  # /static: the pages' style and scripts (the CSP allows no inline ones)

    config_follow.install(app)  # partners-file reloads (ops/reload.py)
    longpoll.install(app)  # pull long polls: 429 past the bounds; the reader stops at shutdown (after config_follow)
    schema.install(app)  # /openapi.json: the event body and our error shape (schema.py)
    return app


def create_asgi(settings: Settings, enqueue: Callable[[FollowUp], None]):
    """The served application: body caps, then /ops security headers, then the feed and event fast
    paths, in front of the FastAPI app."""
    from syndication.api import limits
    from syndication.api import throttle
    from syndication.api.event_fast import EventFastPath

    app = create_app(settings, enqueue)
    throttle.install(app)  # 429 for too many wrong keys, in the JSON error shape
    # Outermost, so nothing can read a body before its size is checked.
    return limits.BodyLimit(ops_guard.SecurityHeaders(feed_routes.FeedFastPath(EventFastPath(app, app.state),
                                                                               app.state)),
                            app.state, ops_guard.security_headers)
