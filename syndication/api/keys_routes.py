"""`GET /v1/partners/{id}/keys`: the public keys a partner verifies our pushes with.

    GET /v1/partners/{id}/keys
        Authorization: Bearer <that partner's pull token>
    -> {"partner": ID, "algorithms": ["hmac-sha256", "ed25519"],
        "keys": [{"key_id": "ed25519:...", "algorithm": "ed25519", "signature": "v1a", "public_key": "whpk_..."}]}

`algorithms` names what signs its pushes (`hmac-sha256`: a `v1` signature with the shared
secret, which is never shown; `ed25519`: a `v1a` signature); `keys` lists the Ed25519 public
keys, several while a key is being replaced. Authenticated like the pull routes
(partner_auth.py `pull_partner`): the same 401 for no such partner, a partner without `pull`
and a wrong token, so the answer is no oracle of partner ids; 403 for a disabled partner. Nothing here is secret, but a
partner's keys are its business, and an open route would list which partners exist.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from syndication.api import query, schema
from syndication.api.partner_auth import DISABLED, UNAUTHORISED, pull_partner
from syndication.partners.signing import algorithms, public_keys


class PublicKey(BaseModel):
    key_id: str = Field(description="`ed25519:` and 16 hex digits of the key's SHA-256: which key this is")
    algorithm: str = Field(description="`ed25519`")
    signature: str = Field(description="The `webhook-signature` version it verifies: `v1a`")
    public_key: str = Field(description="`whpk_` + base64 of the 32-byte Ed25519 public key (Standard Webhooks)")


class PartnerKeys(BaseModel):
    partner: str
    algorithms: list[str] = Field(description="What signs this partner's pushes: `hmac-sha256` (`v1`, with the "
                                              "shared secret, never shown here) and/or `ed25519` (`v1a`)")
    keys: list[PublicKey]


router = APIRouter(tags=["pull"], dependencies=[Depends(query.known_only)])


@router.get(
    "/v1/partners/{partner_id}/keys", summary="The public keys that verify a partner's pushes",
    response_model=PartnerKeys,
    responses={403: DISABLED,
               **schema.errors(401, 429, 503,
                               e401=UNAUTHORISED,
                               e429="Too many wrong tokens from this address (`too_many_attempts`)")},
)
def partner_keys(request: Request, partner=Depends(pull_partner)) -> PartnerKeys:
    """The signature algorithms of the partner's pushes and its Ed25519 public keys (`whpk_`), never a secret."""
    keys = public_keys(request.app.state.ctx.settings.secrets_for(partner.id))
    return PartnerKeys(partner=partner.id, algorithms=algorithms(partner.target.auth) if partner.target else [],
                       keys=[PublicKey(**k) for k in keys])
