"""Backfill over HTTP (ops key): a partner signed today gets the stories it would have had.

    POST /v1/partners/{id}/backfill   {"last": N} | {"since": "2h" | "2026-05-01T06:00:00Z"}  [, "force": true]
    -> 202 {"partner", "matched", "created", "skipped", "forced"}

The same core as `syndication partners backfill` (delivery/backfill.py): the current version
of every published, non-embargoed article the partner's filters take, oldest first, with the
delivery ids a normal push has, so asking twice creates nothing new (`skipped` counts what was
already there). 404 for an unknown partner, 409 for a disabled one, 422 (`problems`) for a body
that does not give exactly one of `last` (1..10000) and `since`, or whose fields are not of
their JSON type exactly (`"force": "yes"`, `"last": true` and `"since": "١٢h"` are 422s:
api/params.py). One audit record per request, naming the ops key's name.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from syndication import inputs
from syndication.api import params, query, schema
from syndication.api.auth import ops_actor, ops_key
from syndication.delivery import backfill
from syndication.ops import audit

router = APIRouter(tags=["partners"], dependencies=[Depends(ops_key), Depends(query.known_only)],
                   responses=schema.errors(401, 429, 503))
Last = params.JsonCount(1, backfill.MAX_LAST)


def _document(schema: dict) -> None:
    """Exactly one of `last` and `since`, neither ever null (the schema says so too: partners
    generate clients from it)."""
    for name in ("last", "since"):
        schema["properties"][name].pop("default", None)
    schema["oneOf"] = [{"required": ["last"]}, {"required": ["since"]}]
    schema["examples"] = [{"last": 20}, {"since": "2h"}, {"since": "2026-05-01T06:00:00Z", "force": True}]


class BackfillRequest(BaseModel):
    """Exactly one of `last` and `since` (the schema says so too: partners generate clients from it)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_document)

    # Strict types (api/params.py): `"last": true`, `"force": "yes"` or a `since` in other digits
    # is a 422 naming the field, not read as 1, true or a time the caller did not write.
    # Not `| None`: a union would name its branches in the 422 (`body.last.function-before[...]`).
    # An absent field keeps the default None (defaults are not validated); a null is refused below.
    last: Last = Field(None, description="The N newest matching articles (by publish time)")
    since: params.JsonInstant = Field(None, description=f"Every matching article published since: "
                                                        f"{inputs.TIME_HELP}")
    force: params.JsonBool = Field(False, description="Make versions the partner already has a delivery of "
                                                      "due again (same delivery ids, fresh retry budget)")

    @field_validator("last", "since", mode="before")
    @classmethod
    def _no_null(cls, value):
        # Leave a field out rather than send null (the schema allows no null; validators skip defaults).
        if value is None:
            raise ValueError("leave it out instead of null")
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
                                             "and `since`, a field is of the wrong type, or the partner id "
                                             "is not one a partner can have")})
def backfill_partner(partner_id: params.PartnerId, body: BackfillRequest, request: Request,
                     actor: str = Depends(ops_actor)):
    """Create the partner's deliveries of the current version of every published, non-embargoed article
    its filters take (the `last` N newest, or those published `since`), oldest first. Delivery ids are
    the ones a normal push has, so a second request creates nothing new."""
    ctx = request.app.state.ctx
    # An unknown partner (404) or a disabled one (409) is the error tree's (errors.py, app.DOMAIN_ERRORS).
    result = backfill.run(ctx, partner_id, last=body.last,
                          since=inputs.instant(body.since) if body.since is not None else None, force=body.force)
    selection = f"last {body.last}" if body.last is not None else f"since {body.since}"
    audit.record(ctx, "backfill", target=f"partner {partner_id}", actor=actor, selection=selection,
                 matched=result.matched, created=result.created, skipped=result.skipped, forced=result.forced)
    return JSONResponse({"partner": partner_id, "matched": result.matched, "created": result.created,
                         "skipped": result.skipped, "forced": result.forced}, status_code=202)
