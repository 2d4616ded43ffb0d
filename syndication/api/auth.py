"""Key checks for publishers and ops: constant-time, and throttled per client.

A key someone sends is compared with every configured key without stopping
early, as bytes (any text a client sends compares without raising). Then the
client's recent failures are looked at, and a wrong key is counted
(throttle.py): a client that keeps guessing gets 429 instead of more answers,
while a valid key already seen to work from that address still passes (one
address is often many clients). A missing key is not an attempt and is not counted.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials

from syndication.settings import Secret
from syndication.api import schema, throttle


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def matching_key(token: str | None, keys: tuple[Secret, ...]) -> int | None:
    """Index of the key `token` is, or None; every key is compared, so timing reveals nothing."""
    if token is None:
        return None
    given = token.encode("utf-8", "surrogateescape")
    found = None
    for i, key in enumerate(keys):
        if hmac.compare_digest(given, key.value.encode()) and found is None:
            found = i
    return found


def check_key(request: Request, token: str, keys: tuple[Secret, ...]) -> int | None:
    """`matching_key`, throttled: raises throttle.TooManyAttempts (429) when this client has failed
    too often, unless the key is valid and has worked from this client before; a wrong key counts
    as a failure."""
    found = matching_key(token, keys)  # always compared: a refused attempt takes as long as any other
    throttle.before_attempt(request, keys[found] if found is not None else None)
    if found is None:
        throttle.failed(request)
    return found


def require(request: Request, keys: tuple[Secret, ...], what: str) -> int:
    """The index of the key the request carries (raises 401 without a recognised one): the audit log
    names who acted by it (`settings.ops_key_name(index)`), never by the key."""
    token = bearer(request)
    if token is None:
        raise HTTPException(401, f"missing {what} key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    found = check_key(request, token, keys)
    if found is None:
        raise HTTPException(401, f"{what} key not recognised", headers={"WWW-Authenticate": "Bearer"})
    return found


def ops_key(request: Request, _: HTTPAuthorizationCredentials | None = Security(schema.OPS_KEY)) -> int:
    """Route dependency: an ops key is required (documented as the `opsKey` scheme); its index."""
    return require(request, request.app.state.settings.ops_keys, "ops")


def ops_actor(request: Request, key_index: int = Depends(ops_key)) -> str:
    """Who acts, for the audit trail: the name of the ops key (the check itself ran once, cached)."""
    return request.app.state.settings.ops_key_name(key_index)
