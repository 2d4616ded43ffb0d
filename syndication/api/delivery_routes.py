"""Delivery history and replay for ops (ops key required).

    GET  /v1/deliveries?article_id=...            every delivery of an article, with attempts
    GET  /v1/deliveries?partner=...&state=...     a partner's deliveries, newest first
    GET  /v1/deliveries?state=...                 the newest deliveries across every partner
    GET  /v1/deliveries/{id}                      one delivery, with attempts
    POST /v1/deliveries/{id}/replay               back in line now, same delivery id

The key is checked by a dependency, so a caller without one gets 401 before
anything else about the request is looked at (a 422 would tell them what the
operation takes).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.responses import JSONResponse

from syndication.delivery import deadletters
from syndication.delivery import records
from syndication.api import query, schema
from syndication.errors import UnknownDelivery
from syndication.api.auth import require


def _ops(request: Request, _: HTTPAuthorizationCredentials | None = Security(schema.OPS_KEY)) -> None:
    require(request, request.app.state.settings.ops_keys, "ops")


router = APIRouter(tags=["deliveries"], dependencies=[Depends(_ops), Depends(query.known_only)],
                   responses=schema.errors(401, 429, 503))


def _with_attempts(ctx, recs: list[dict]) -> list[dict]:
    pipe = ctx.redis.pipeline(transaction=False)
    for r in recs:
        pipe.lrange(ctx.keys.delivery_attempts(r["id"]), 0, -1)
    for r, attempts in zip(recs, pipe.execute()):
        r["attempt_log"] = [json.loads(a) for a in attempts]
    return recs


def _newest_everywhere(ctx, state: str | None, limit: int) -> list[dict]:
    # Each partner's newest (as `?partner=` finds them), merged: the newest `limit` overall are among them.
    recs = [r for p in ctx.settings.push_targets for r in records.for_partner(ctx, p.id, state=state, limit=limit)]
    return sorted(recs, key=lambda r: (-r.get("created_at", 0), r["id"]))[:limit]


@router.get(
    "/v1/deliveries", summary="Deliveries, with every attempt",
    responses={200: {"model": schema.DeliveryList},
               **schema.errors(422, e422="A parameter is invalid (`limit` out of range, an unknown `state`)")},
)
def list_deliveries(
    request: Request,
    article_id: str | None = Query(None, description="Every delivery of this article"),
    partner: str | None = Query(None, description="This partner's deliveries, newest first"),
    state: records.DeliveryStatus | None = Query(None, description="Only deliveries in this state"),
    limit: int = Query(100, ge=1, le=1000, description="At most this many"),
):
    """Deliveries with every attempt: of an article, of a partner (newest first), or without either,
    the newest across every partner. `state` and `partner` narrow what an article has."""
    ctx = request.app.state.ctx
    wanted = state.value if state else None
    if article_id:
        recs = [r for r in records.for_article(ctx, article_id) if not partner or r["partner"] == partner]
    elif partner:
        recs = records.for_partner(ctx, partner, state=wanted, limit=limit)
    else:
        recs = _newest_everywhere(ctx, wanted, limit)
    if wanted:
        recs = [r for r in recs if r["status"] == wanted]
    return {"deliveries": _with_attempts(ctx, recs[:limit])}


@router.get("/v1/deliveries/{delivery_id}", summary="One delivery, with every attempt",
            responses={200: {"model": schema.Delivery}, **schema.errors(404)})
def get_delivery(delivery_id: str, request: Request):
    ctx = request.app.state.ctx
    rec = records.get(ctx, delivery_id)
    if rec is None:
        raise UnknownDelivery(f"no delivery with id {delivery_id!r}")
    return _with_attempts(ctx, [rec])[0]


@router.post("/v1/deliveries/{delivery_id}/replay", status_code=202, summary="Send a delivery again",
             response_description="Back in line now, with the same delivery id",
             responses={202: {"model": schema.ReplayAccepted}, **schema.errors(404)})
def replay_delivery(delivery_id: str, request: Request):
    """Put a delivery (typically a dead letter) back in line now; partners see the same delivery id."""
    ctx = request.app.state.ctx
    if not deadletters.replay_one(ctx, delivery_id):
        raise UnknownDelivery(f"no delivery with id {delivery_id!r}")
    return JSONResponse({"delivery_id": delivery_id, "status": "pending"}, status_code=202)
