"""Who a partner's request is: its pull token, checked once for every partner-facing route.

The pull API (pull_routes.py) and the keys route (keys_routes.py) answer a partner that sends
`Authorization: Bearer <its pull token>` (`pull: {token_env: ...}` in the partners file).
`pull_partner` is the FastAPI dependency both declare; `DISABLED` and `UNAUTHORISED` are the
OpenAPI descriptions of its refusals, so the routes document them in the same words.

No such partner, a partner without `pull`, another partner's token and a wrong one all get the
same 401, body and throttling (api/auth.py `check_key`): the answer is no oracle of which
partner ids exist or pull. Only with its own token does a disabled partner learn it is
disabled (403).
"""

from __future__ import annotations

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from syndication.api import schema
from syndication.api.auth import bearer, check_key
from syndication.settings import Secret

# What a token for nothing is compared with: every refusal costs the same comparison.
_NOBODY = Secret("\x00no partner has this pull token")

PULL_TOKEN = HTTPBearer(scheme_name="pullToken", auto_error=False,
                        description="A partner's pull token (`pull: {token_env: ...}` in the partners file): "
                                    "that partner's items, and no other partner's")

DISABLED = {"model": schema.ErrorBody, "description": "The partner is disabled (`enabled: false`)"}
UNAUTHORISED = ("No token, or not this partner's pull token; the same answer for a partner id that does "
                "not exist or has no `pull` (`WWW-Authenticate: Bearer`)")


def pull_partner(partner_id: str, request: Request,
                 _: HTTPAuthorizationCredentials | None = Security(PULL_TOKEN)):
    """The partner, if the request carries its pull token (a dependency: checked before the query).

    401 for no token, no such partner, a partner without `pull` and a wrong token alike;
    403 for a disabled partner that sent its own token."""
    token = bearer(request)
    if token is None:
        raise HTTPException(401, "missing pull token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    ctx = request.app.state.ctx
    partner = ctx.settings.partner(partner_id)
    own = ctx.settings.secrets_for(partner_id).get("pull_token") if partner is not None and partner.pull else None
    # Compared (and throttled) even when there is nothing to compare with, against a key nobody has.
    if check_key(request, token, (own or _NOBODY,)) is None or own is None:
        raise HTTPException(401, f"pull token not recognised for partner {partner_id!r}",
                            headers={"WWW-Authenticate": "Bearer"})
    if not partner.enabled:
        raise HTTPException(403, f"partner {partner_id!r} is disabled")
    return partner
