"""Delivery history and replay for ops (ops key required).

    GET  /v1/deliveries?article_id=...            every delivery of an article, with attempts
    GET  /v1/deliveries?partner=...&state=...     a partner's deliveries, newest first
    GET  /v1/deliveries/{id}                      one delivery, with attempts
    POST /v1/deliveries/{id}/replay               back in line now, same delivery id
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from ..delivery import deadletters, records
from .auth import require

router = APIRouter(tags=["deliveries"])


def _ops(request: Request):
    require(request, request.app.state.settings.ops_keys, "ops")
    return request.app.state.ctx


def _with_attempts(ctx, recs: list[dict]) -> list[dict]:
    pipe = ctx.redis.pipeline(transaction=False)
    for r in recs:
        pipe.lrange(ctx.keys.delivery_attempts(r["id"]), 0, -1)
    for r, attempts in zip(recs, pipe.execute()):
        r["attempt_log"] = [json.loads(a) for a in attempts]
    return recs


@router.get("/v1/deliveries")
def list_deliveries(request: Request, article_id: str | None = None, partner: str | None = None,
                    state: records.DeliveryStatus | None = None, limit: int = Query(100, ge=1, le=1000)):
    ctx = _ops(request)
    if article_id:
        recs = records.for_article(ctx, article_id)
    elif partner:
        recs = records.for_partner(ctx, partner, state=state.value if state else None, limit=limit)
    else:
        raise HTTPException(400, "give article_id or partner")
    if state:
        recs = [r for r in recs if r["status"] == state.value]
    return {"deliveries": _with_attempts(ctx, recs[:limit])}


@router.get("/v1/deliveries/{delivery_id}")
def get_delivery(delivery_id: str, request: Request):
    ctx = _ops(request)
    rec = records.get(ctx, delivery_id)
    if rec is None:
        raise HTTPException(404, f"no delivery with id {delivery_id!r}")
    return _with_attempts(ctx, [rec])[0]


@router.post("/v1/deliveries/{delivery_id}/replay", status_code=202)
def replay_delivery(delivery_id: str, request: Request):
    ctx = _ops(request)
    if not deadletters.replay_one(ctx, delivery_id):
        raise HTTPException(404, f"no delivery with id {delivery_id!r}")
    return JSONResponse({"delivery_id": delivery_id, "status": "pending"}, status_code=202)
