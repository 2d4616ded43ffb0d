"""Ed25519 keys for Standard Webhooks `v1a` signatures: their text form, signing, verifying.

The spec (https://www.standardwebhooks.com/, "Signature scheme") serialises an Ed25519 key
pair as base64 with a prefix:

    whsk_<base64>   the private (signing) key: ours, in the variable `auth.private_key_env` names
    whpk_<base64>   the public key: the partner's, to verify with (never able to sign)

and a signature as `v1a,<base64 Ed25519 signature over "{webhook-id}.{webhook-timestamp}.{body}">`,
the same signed content as `v1` (HMAC-SHA256). We write a private key as its 64 bytes, seed then
public key (libsodium's and svix's form), and read that or the bare 32-byte seed; a 64-byte key
whose second half is not its seed's public key is refused, not silently half-used.

A key id names a public key without being it (`ed25519:` + 16 hex digits of its SHA-256), so
`partners show`, the keys route and a partner's trust list can say which key signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PRIVATE_PREFIX = "whsk_"
PUBLIC_PREFIX = "whpk_"
SIGNATURE_VERSION = "v1a"
ALGORITHM = "ed25519"


class BadKey(ValueError):
    """A key that is not one: the message says what is wrong with it, never the key."""


def _raw(text: str, prefix: str, sizes: tuple[int, ...], what: str) -> bytes:
    if not text.startswith(prefix):
        raise BadKey(f"{what} must start with {prefix}")
    try:
        raw = base64.b64decode(text[len(prefix):], validate=True)
    except (binascii.Error, ValueError):
        raise BadKey(f"{what} is not {prefix}<base64>") from None
    if len(raw) not in sizes:
        raise BadKey(f"{what} holds {len(raw)} bytes, not {' or '.join(map(str, sizes))}")
    return raw


def _public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@lru_cache(maxsize=256)
def private_key(text: str) -> Ed25519PrivateKey:
    """The signing key of `whsk_<base64 of 64 or 32 bytes>`; BadKey says what is wrong."""
    raw = _raw(text.strip(), PRIVATE_PREFIX, (64, 32), "an Ed25519 private key")
    key = Ed25519PrivateKey.from_private_bytes(raw[:32])
    if len(raw) == 64 and raw[32:] != _public_raw(key.public_key()):
        raise BadKey("an Ed25519 private key's last 32 bytes must be its public key")
    return key


@lru_cache(maxsize=256)
def public_key(text: str) -> Ed25519PublicKey:
    """The verifying key of `whpk_<base64 of 32 bytes>`; BadKey says what is wrong."""
    return Ed25519PublicKey.from_public_bytes(_raw(text.strip(), PUBLIC_PREFIX, (32,), "an Ed25519 public key"))


def private_text(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return PRIVATE_PREFIX + base64.b64encode(seed + _public_raw(key.public_key())).decode()


def public_text(key: Ed25519PublicKey) -> str:
    return PUBLIC_PREFIX + base64.b64encode(_public_raw(key)).decode()


def public_of(private: str) -> str:
    """The `whpk_` public key of a `whsk_` private key."""
    return public_text(private_key(private).public_key())


def key_id(public: str) -> str:
    """A public key's name: `ed25519:` and the first 16 hex digits of the SHA-256 of its 32 bytes."""
    return f"{ALGORITHM}:" + hashlib.sha256(_public_raw(public_key(public))).hexdigest()[:16]


def generate() -> tuple[str, str]:
    """A new key pair: (`whsk_...` for our environment, `whpk_...` for the partner)."""
    key = Ed25519PrivateKey.generate()
    return private_text(key), public_text(key.public_key())


def signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    """What `v1` and `v1a` both sign: `{webhook-id}.{webhook-timestamp}.{body}`."""
    return f"{msg_id}.{timestamp}.".encode() + body


def sign(private: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1a,<base64 signature>`."""
    signature = private_key(private).sign(signed_content(msg_id, timestamp, body))
    return f"{SIGNATURE_VERSION}," + base64.b64encode(signature).decode()


def verify(publics: list[str], msg_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """Whether one `v1a` signature of the `webhook-signature` header verifies with one of `publics`.

    Other versions in the header (`v1`) are passed over: the caller checks those its own way."""
    content = signed_content(msg_id, timestamp, body)
    for part in header.split():
        version, _, sig = part.partition(",")
        if version != SIGNATURE_VERSION:
            continue
        try:
            raw = base64.b64decode(sig, validate=True)
        except (binascii.Error, ValueError):
            continue
        for public in publics:
            try:
                public_key(public).verify(raw, content)
                return True
            except InvalidSignature:
                pass
    return False
