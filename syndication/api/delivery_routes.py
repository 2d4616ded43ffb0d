"""Delivery history and replay for ops (ops key required).

    GET  /v1/deliveries?article_id=...            every delivery of an article, with attempts
    GET  /v1/deliveries?partner=...&state=...     a partner's deliveries, newest first
    GET  /v1/deliveries?state=...                 the newest deliveries across every partner
    GET  /v1/deliveries/{id}                      one delivery, with attempts
    POST /v1/deliveries/{id}/replay               back in line now, same delivery id (409: finished)
    POST /v1/deliveries/{id}/discard              give up on a dead letter (409: not one)
    POST /v1/partners/{id}/dead-letters/replay    every dead letter of a partner, back in line
    POST /v1/partners/{id}/dead-letters/discard   every dead letter of a partner, given up on

The key is checked by a dependency, so a caller without one gets 401 before
anything else about the request is looked at (a 422 would tell them what the
operation takes). Each replay or discard is one audit record naming the ops
key's *name* (`SYNDICATION_OPS_KEYS=alice:...`), never the key. Ids and `limit` are read
strictly (api/params.py): an id no delivery, article or partner can have, or a `limit` that is
not ASCII digits in range (`1_000`, ` 12`, `١٢`), is a 422 naming the parameter.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from syndication.delivery import deadletters
from syndication.delivery import records
from syndication.api import params, query, schema
from syndication.errors import UnknownDelivery, UnknownPartner
from syndication.api.auth import ops_actor, ops_key
from syndication.ops import audit


router = APIRouter(tags=["deliveries"], dependencies=[Depends(ops_key), Depends(query.known_only)],
                   responses=schema.errors(401, 429, 503))
Limit = params.Limit(1000)
_BAD_ID = schema.errors(422, e422="Not a delivery id (`msg_` and 26 hex digits): no delivery can have it")
_BAD_PARTNER = schema.errors(422, e422="Not a partner id: no partner can have it")


class Discarded(BaseModel):
    delivery_id: str
    status: str


class PartnerReplay(BaseModel):
    partner: str
    replayed: int
    skipped: dict[str, str]


class PartnerDiscard(BaseModel):
    partner: str
    discarded: int
    skipped: dict[str, str]


def _conflict(description: str) -> dict:
    return {409: {"model": schema.ErrorBody, "description": description}}


def _refused(error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=409)


def _newest_everywhere(ctx, state: str | None, limit: int) -> list[dict]:
    # Each partner's newest (as `?partner=` finds them), merged: the newest `limit` overall are among them.
    recs = [r for p in ctx.settings.targets for r in records.for_partner(ctx, p.id, state=state, limit=limit)]
    return sorted(recs, key=lambda r: (-r.get("created_at", 0), r["id"]))[:limit]


@router.get(
    "/v1/deliveries", summary="Deliveries, with every attempt",
    responses={200: {"model": schema.DeliveryList},
               **schema.errors(422, e422="A parameter is invalid (`limit` out of range or not in ASCII digits, "
                                        "an unknown `state`, an id no article or partner can have)")},
)
def list_deliveries(
    request: Request,
    article_id: params.ArticleId | None = Query(None, description="Every delivery of this article"),
    partner: params.PartnerId | None = Query(None, description="This partner's deliveries, newest first"),
    state: records.DeliveryStatus | None = Query(None, description="Only deliveries in this state"),
    limit: Annotated[Limit, Query(description="At most this many")] = 100,
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
    return {"deliveries": records.with_attempts(ctx, recs[:limit])}


@router.get("/v1/deliveries/{delivery_id}", summary="One delivery, with every attempt",
            responses={200: {"model": schema.Delivery}, **schema.errors(404), **_BAD_ID})
def get_delivery(delivery_id: params.DeliveryId, request: Request):
    ctx = request.app.state.ctx
    rec = records.get(ctx, delivery_id)
    if rec is None:
        raise UnknownDelivery(f"no delivery with id {delivery_id!r}")
    return records.with_attempts(ctx, [rec])[0]


@router.post("/v1/deliveries/{delivery_id}/replay", status_code=202, summary="Send a delivery again",
             response_description="Back in line now, with the same delivery id",
             responses={202: {"model": schema.ReplayAccepted}, **schema.errors(404), **_BAD_ID,
                        **_conflict("Not replayed, and why: a finished delivery (delivered, superseded, "
                                    "cancelled, discarded) is never replayed; a pending one is due already")})
def replay_delivery(delivery_id: params.DeliveryId, request: Request, actor: str = Depends(ops_actor)):
    """Put a dead, parked or retrying delivery back in line now; partners see the same delivery id."""
    ctx = request.app.state.ctx
    result = deadletters.replay(ctx, [delivery_id])
    if result.unknown:
        raise UnknownDelivery(f"no delivery with id {delivery_id!r}")
    if result.skipped:
        return _refused("not_replayable", f"delivery {delivery_id} not replayed: {result.skipped[delivery_id]}")
    audit.record(ctx, "replay", target=f"delivery {delivery_id}", actor=actor, count=1)
    return JSONResponse({"delivery_id": delivery_id, "status": "pending"}, status_code=202)


@router.post("/v1/deliveries/{delivery_id}/discard", summary="Give up on a dead letter",
             response_description="Discarded: no longer a dead letter; the record expires with the retention",
             responses={200: {"model": Discarded}, **schema.errors(404), **_BAD_ID,
                        **_conflict("Not discarded, and why: only a dead (or parked) delivery can be")})
def discard_delivery(delivery_id: params.DeliveryId, request: Request, actor: str = Depends(ops_actor)):
    """Discard a dead letter: it leaves the dead letters for good and expires like a delivered one."""
    ctx = request.app.state.ctx
    result = deadletters.discard(ctx, [delivery_id])
    if result.unknown:
        raise UnknownDelivery(f"no delivery with id {delivery_id!r}")
    if result.skipped:
        return _refused("not_a_dead_letter", f"delivery {delivery_id} not discarded: {result.skipped[delivery_id]}")
    audit.record(ctx, "discard", target=f"delivery {delivery_id}", actor=actor, count=1)
    return {"delivery_id": delivery_id, "status": "discarded"}


@router.post("/v1/partners/{partner_id}/dead-letters/replay", status_code=202, tags=["partners"],
             summary="Send every dead letter of a partner again",
             responses={202: {"model": PartnerReplay}, **schema.errors(404, e404="No such partner"), **_BAD_PARTNER})
def replay_partner(partner_id: params.PartnerId, request: Request, actor: str = Depends(ops_actor)):
    """Every dead letter of the partner back in line now (same delivery ids); `skipped` says why any was not."""
    return _all_dead_letters(request, partner_id, actor, "replay", deadletters.replay, "replayed", 202)


@router.post("/v1/partners/{partner_id}/dead-letters/discard", tags=["partners"],
             summary="Give up on every dead letter of a partner",
             responses={200: {"model": PartnerDiscard}, **schema.errors(404, e404="No such partner"), **_BAD_PARTNER})
def discard_partner(partner_id: params.PartnerId, request: Request, actor: str = Depends(ops_actor)):
    """Every dead letter of the partner discarded (they expire with the retention)."""
    return _all_dead_letters(request, partner_id, actor, "discard", deadletters.discard, "discarded", 200)


def _all_dead_letters(request: Request, partner_id: str, actor: str, action: str, run, done: str, status: int):
    """Replay or discard every dead letter of a partner, audited once with the count."""
    ctx = request.app.state.ctx
    if ctx.settings.target(partner_id) is None and ctx.settings.partner(partner_id) is None:  # the hub's too
        raise UnknownPartner(f"no partner {partner_id!r}")
    result = run(ctx, deadletters.select(ctx, partner=partner_id))
    count = len(getattr(result, done))
    audit.record(ctx, action, target=f"partner {partner_id}", actor=actor, count=count, skipped=len(result.skipped))
    return JSONResponse({"partner": partner_id, done: count, "skipped": result.skipped}, status_code=status)
