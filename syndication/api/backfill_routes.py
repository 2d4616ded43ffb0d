"""Backfill over HTTP (ops key): a partner signed today gets the stories it would have had.

    POST /v1/partners/{id}/backfill   {"last": N} | {"since": "2h" | "2026-05-01T06:00:00Z"}  [, "force": true]
    -> 202 {"partner", "matched", "created", "skipped", "forced"}

The same core as `syndication partners backfill` (delivery/backfill.py): the current version
of every published, non-embargoed article the partner's filters take, oldest first, with the
delivery ids a normal push has, so asking twice creates nothing new (`skipped` counts what was
already there). 404 for an unknown partner, 409 for a disabled one, 422 (`problems`) for a body
that does not give exactly one of `last` (1..10000) and `since`. One audit record per request,
naming the ops key's name.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from syndication.api import query, schema
from syndication.api.auth import ops_actor, ops_key
from syndication.delivery import backfill
from syndication.ops import audit

router = APIRouter(tags=["partners"], dependencies=[Depends(ops_key), Depends(query.known_only)],
                   responses=schema.errors(401, 429, 503))

_AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since_time(text: str) -> float:
    """'30m', '2h', '1d' (ago) or an ISO 8601 time with its zone -> unix seconds (ValueError if neither)."""
    m = _AGO.match(text.strip())
    if m:
        return time.time() - float(m.group(1)) * _UNITS[m.group(2)]
    text = text.strip().upper()  # RFC 3339 allows lower-case t and z
    # ... and a leap second, which datetime does not: the second before it is as good a start.
    when = datetime.fromisoformat(re.sub(r"(T\d\d:\d\d):60", r"\1:59", text))
    if when.tzinfo is None:
        raise ValueError("an ISO 8601 time needs its zone (Z or +hh:mm)")
    return when.timestamp()


class BackfillRequest(BaseModel):
    """Exactly one of `last` and `since` (the schema says so too: partners generate clients from it)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": ["last"]}, {"required": ["since"]}],
        "examples": [{"last": 20}, {"since": "2h"}, {"since": "2026-05-01T06:00:00Z", "force": True}]})

    last: Annotated[int, Field(ge=1, le=backfill.MAX_LAST)] | SkipJsonSchema[None] = Field(
        None, description="The N newest matching articles (by publish time)")
    since: Annotated[str, Field(max_length=64)] | SkipJsonSchema[None] = Field(
        None, json_schema_extra={"anyOf": [{"pattern": _AGO.pattern}, {"format": "date-time"}]},
        description="Every matching article published since: `30m`, `2h`, `1d` ago, or an RFC 3339 time")
    force: bool = Field(False, description="Make versions the partner already has a delivery of due again "
                                           "(same delivery ids, fresh retry budget)")

    @field_validator("last", "since", mode="before")
    @classmethod
    def _no_null(cls, value):
        # Leave a field out rather than send null (the schema allows no null; validators skip defaults).
        if value is None:
            raise ValueError("leave it out instead of null")
        return value

    @field_validator("since")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                since_time(value)
            except (ValueError, OverflowError) as exc:
                raise ValueError(f"cannot read time {value!r}: use 30m, 2h, 1d or an ISO 8601 time with "
                                 f"its zone ({exc})") from None
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> "BackfillRequest":
        if (self.last is None) == (self.since is None):
            raise ValueError("give exactly one of last and since")
        return self


class Backfilled(BaseModel):
    partner: str
    matched: int = Field(description="Current versions that match the partner's filters")
    created: int = Field(description="Deliveries created now (due at once, oldest first)")
    skipped: int = Field(description="Already there: a delivery of that version existed (not made due again)")
    forced: int = Field(description="Already there and made due again (`force`)")


@router.post("/v1/partners/{partner_id}/backfill", status_code=202,
             summary="Send a partner the matching articles it never had",
             response_description="Deliveries created, due now; the normal delivery machinery takes over",
             responses={202: {"model": Backfilled},
                        409: {"model": schema.ErrorBody,
                              "description": "The partner is disabled (`enabled: false` in the partners file)"},
                        **schema.errors(400, 404, 413, 422, e400="The body is not JSON (it cannot be parsed)",
                                        e404="No such partner", e413="The body is over 16 KiB",
                                        e422="The body does not give exactly one of `last` (1..10000) "
                                             "and `since`")})
def backfill_partner(partner_id: str, body: BackfillRequest, request: Request, actor: str = Depends(ops_actor)):
    """Create the partner's deliveries of the current version of every published, non-embargoed article
    its filters take (the `last` N newest, or those published `since`), oldest first. Delivery ids are
    the ones a normal push has, so a second request creates nothing new."""
    ctx = request.app.state.ctx
    try:
        result = backfill.run(ctx, partner_id, last=body.last,
                              since=since_time(body.since) if body.since is not None else None, force=body.force)
    except backfill.UnknownPartner as exc:
        return JSONResponse({"error": "not_found", "detail": str(exc)}, status_code=404)
    except backfill.PartnerDisabled as exc:
        return JSONResponse({"error": "partner_disabled", "detail": str(exc)}, status_code=409)
    selection = f"last {body.last}" if body.last is not None else f"since {body.since}"
    audit.record(ctx, "backfill", target=f"partner {partner_id}", actor=actor, selection=selection,
                 matched=result.matched, created=result.created, skipped=result.skipped, forced=result.forced)
    return JSONResponse({"partner": partner_id, "matched": result.matched, "created": result.created,
                         "skipped": result.skipped, "forced": result.forced}, status_code=202)
