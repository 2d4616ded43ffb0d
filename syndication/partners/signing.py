"""Authenticating our requests to partners: Standard Webhooks, bearer, basic.

Standard Webhooks (https://www.standardwebhooks.com/): for every attempt

    webhook-id:        the delivery id (stable across retries and replays)
    webhook-timestamp: unix seconds of this attempt
    webhook-signature: v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>

Secrets look like `whsec_<base64 key>`. During key rotation the partner's
secret variable holds several secrets separated by spaces; we sign with each
and send all signatures, space-separated, so either key verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from syndication.errors import ConfigError
from syndication.settings import Secret


def _key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        raise ConfigError("a standard-webhooks secret must be whsec_<base64>") from None


@lru_cache(maxsize=256)
def _keyed(secret: str) -> hmac.HMAC:
    """An HMAC keyed with `secret`, to copy: keying (decode, pad, two hash states) once per secret."""
    return hmac.new(_key(secret), digestmod=hashlib.sha256)


def sign(secret: Secret, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value, one `v1,` signature per secret."""
    sigs = []
    for part in secret.value.split():
        mac = _keyed(part).copy()
        mac.update(f"{msg_id}.{timestamp}.".encode())
        mac.update(body)
        sigs.append("v1," + base64.b64encode(mac.digest()).decode())
    return " ".join(sigs)


def auth_headers(partner, secrets: dict[str, Secret], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    kind = partner.auth.type
    if kind == "standard-webhooks":
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secrets["secret_env"], msg_id, timestamp, body),
        }
    # Even unsigned partners get the id, so they can dedupe retries.
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if kind == "bearer":
        headers["Authorization"] = f"Bearer {secrets['token_env'].value}"
    elif kind == "basic":
        token = base64.b64encode(f"{partner.auth.username}:{secrets['password_env'].value}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return headers
