"""Liveness (/healthz: the process answers) and readiness (/readyz: Redis answers)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()
log = logging.getLogger("syndication.api")


@router.get("/healthz", tags=["health"])
def healthz():
    return {"status": "ok"}


@router.get("/readyz", tags=["health"])
async def readyz(request: Request):
    try:
        await request.app.state.aredis.ping()
    except Exception as exc:  # any failure to reach Redis means "not ready", never a 500
        log.warning("not ready: redis: %s: %s", type(exc).__name__, exc)
        # Where Redis lives is not for anonymous callers: the API log says why.
        return JSONResponse({"status": "unavailable", "redis": "unreachable"}, status_code=503)
    return {"status": "ok", "redis": "ok"}
