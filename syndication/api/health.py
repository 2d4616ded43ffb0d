"""Liveness (/healthz: the process answers) and readiness (/readyz: Redis answers)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()


@router.get("/healthz", tags=["health"])
def healthz():
    return {"status": "ok"}


@router.get("/readyz", tags=["health"])
async def readyz(request: Request):
    try:
        await request.app.state.aredis.ping()
    except Exception as exc:  # any failure to reach Redis means "not ready", never a 500
        return JSONResponse({"status": "unavailable", "redis": f"{type(exc).__name__}: {exc}"}, status_code=503)
    return {"status": "ok", "redis": "ok"}
