"""Authenticating our requests to partners: Standard Webhooks, bearer, basic.

Standard Webhooks (https://www.standardwebhooks.com/): for every attempt

    webhook-id:        the delivery id (stable across retries and replays)
    webhook-timestamp: unix seconds of this attempt
    webhook-signature: v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>

Secrets look like `whsec_<base64 key>`. During key rotation the partner's
secret variable holds several secrets separated by spaces; we sign with each
and send all signatures, space-separated, so either key verifies.

With `algorithm: ed25519` the variable `private_key_env` names holds our `whsk_` key
(partners/ed25519.py) and each push carries `v1a,<base64 Ed25519 signature>` over the same
content: the partner verifies with the `whpk_` public key and holds nothing that could forge a
push. A partner moving from a secret to a key has both configured for a while: the header then
carries the `v1` signature(s) first, then the `v1a` one(s), space-separated, so a verifier of
either kind finds its own. Signing happens once per attempt (its timestamp is part of the content).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from syndication.errors import ConfigError
from syndication.partners import ed25519
from syndication.settings.secret import Secret


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


def sign(secret: Secret | None, msg_id: str, timestamp: int, body: bytes, private_keys: Secret | None = None) -> str:
    """The `webhook-signature` header value: one `v1,` signature per secret, then one `v1a,` per private key."""
    sigs = []
    for part in secret.value.split() if secret else ():
        mac = _keyed(part).copy()
        mac.update(f"{msg_id}.{timestamp}.".encode())
        mac.update(body)
        sigs.append("v1," + base64.b64encode(mac.digest()).decode())
    for key in private_keys.value.split() if private_keys else ():
        sigs.append(ed25519.sign(key, msg_id, timestamp, body))
    return " ".join(sigs)


def check_private_keys(keys: Secret, where: str) -> None:
    """ConfigError naming `where` unless every space-separated key is a `whsk_` Ed25519 private key."""
    for key in keys.value.split():
        try:
            ed25519.private_key(key)
        except ed25519.BadKey as exc:
            raise ConfigError(f"{where}: {exc}") from None


def algorithms(auth) -> list[str]:
    """What signs a target's pushes: `hmac-sha256` (`v1`, the secret) before `ed25519` (`v1a`, the key)."""
    if auth.type != "standard-webhooks":
        return []
    return [name for name, on in (("hmac-sha256", auth.secret_env), (ed25519.ALGORITHM, auth.private_key_env)) if on]


def public_keys(secrets) -> list[dict[str, str]]:
    """What a partner may be shown of our signing keys: each `whpk_` public key, its id and algorithm."""
    keys = secrets.get("private_key_env")
    return [{"key_id": ed25519.key_id(public), "algorithm": ed25519.ALGORITHM,
             "signature": ed25519.SIGNATURE_VERSION, "public_key": public}
            for public in (ed25519.public_of(k) for k in (keys.value.split() if keys else ()))]


def auth_headers(partner, secrets: dict[str, Secret], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    kind = partner.auth.type
    if kind == "standard-webhooks":
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secrets.get("secret_env"), msg_id, timestamp, body,
                                      secrets.get("private_key_env")),
        }
    # Even unsigned partners get the id, so they can dedupe retries.
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if kind == "bearer":
        headers["Authorization"] = f"Bearer {secrets['token_env'].value}"
    elif kind == "basic":
        token = base64.b64encode(f"{partner.auth.username}:{secrets['password_env'].value}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return headers


CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def shown_headers(headers: dict[str, str]) -> dict[str, str]:
    """Request headers as they may be shown again (portal, CLI, stored attempts): a credential we sent
    (bearer token, basic password) masked behind its scheme; the Standard Webhooks headers kept
    whole, since a partner re-checks its signature with them."""
    return {k: (v.split(" ", 1)[0] + " ********" if k.lower() in CREDENTIAL_HEADERS else v)
            for k, v in headers.items()}
