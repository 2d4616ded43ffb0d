"""Liveness (/healthz: the process answers) and readiness (/readyz: Redis answers).

/readyz pings on a client of its own (`app.state.aredis_health`, two connections): however busy
the shared pool is, readiness says whether Redis answers, not whether a connection was free."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from syndication.api import schema

router = APIRouter(tags=["health"])
log = logging.getLogger("syndication.api")


@router.get("/healthz", summary="Liveness: the process answers", responses={200: {"model": schema.Health}})
def healthz():
    return {"status": "ok"}


@router.get(
    "/readyz", summary="Readiness: the state store answers",
    responses={200: {"model": schema.Readiness},
               # Not the error shape: a load balancer reads the same body either way.
               503: {"model": schema.Readiness, "description": "The state store is unreachable"}},
)
async def readyz(request: Request):
    try:
        await request.app.state.aredis_health.ping()
    except Exception as exc:  # any failure to reach Redis means "not ready", never a 500
        log.warning("not ready: redis: %s: %s", type(exc).__name__, exc)
        # Where Redis lives is not for anonymous callers: the API log says why.
        return JSONResponse({"status": "unavailable", "redis": "unreachable"}, status_code=503)
    return {"status": "ok", "redis": "ok"}
