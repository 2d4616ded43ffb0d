"""Bearer-key checks for publishers and ops, in constant time."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from ..settings import Secret


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def key_matches(token: str | None, keys: tuple[Secret, ...]) -> bool:
    """Compare against every key without stopping early, so timing reveals nothing."""
    if token is None:
        return False
    found = False
    for key in keys:
        found |= hmac.compare_digest(token.encode(), key.value.encode())
    return found


def require(request: Request, keys: tuple[Secret, ...], what: str) -> None:
    token = bearer(request)
    if token is None:
        raise HTTPException(401, f"missing {what} key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    if not key_matches(token, keys):
        raise HTTPException(401, f"{what} key not recognised", headers={"WWW-Authenticate": "Bearer"})
