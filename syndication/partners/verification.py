"""What a partner needs to check that a push is ours: the algorithms, which keys, the headers, and code.

    details(target, secrets)   # for the partner portal: never a secret, only what identifies one

Standard Webhooks (signing.py) signs with HMAC-SHA256 and a shared secret (`v1`), and/or with
our Ed25519 private key (`v1a`, ed25519.py), whose public keys (`whpk_`) are shown with their
key ids (signing.public_keys, as the keys route shows them). A shared secret is never shown:
each is named by its fingerprint (`hmac-sha256:` and the first 16 hex digits of the SHA-256 of
the decoded key), so a partner can tell which of its secrets we sign with, during a rotation
too. The code snippets verify `v1` with the standardwebhooks libraries and `v1a` with the
platform's Ed25519 (those libraries check `v1` only). Bearer and basic partners are told which
header carries their credential, never the credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from syndication.partners import signing

ID_HEADERS = [
    ("webhook-id", "the delivery id (msg_...): the same on every retry and replay of a delivery; dedupe on it"),
    ("webhook-timestamp", "unix seconds when this attempt was signed; refuse one more than 5 minutes away"),
]
SIGNATURE_HEADER = ("webhook-signature", "space-separated signatures of webhook-id + '.' + webhook-timestamp + "
                    "'.' + body: v1,<base64 HMAC-SHA256 with the shared secret> and/or v1a,<base64 Ed25519 "
                    "signature>; several of a kind while a key is rotated")

PYTHON = """\
# pip install standardwebhooks
import os
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])  # the whsec_... secret we agreed on

def verify(body: bytes, headers) -> dict:
    # body: the raw request body, exactly as received (before any JSON parsing)
    return webhook.verify(body, {name: headers[name] for name in
                                 ("webhook-id", "webhook-timestamp", "webhook-signature")})
    # raises WebhookVerificationError if the signature or the timestamp is wrong
"""

NODE = """\
// npm install standardwebhooks
import { Webhook } from "standardwebhooks";

const webhook = new Webhook(process.env.WEBHOOK_SECRET); // the whsec_... secret we agreed on

export function verify(rawBody, headers) {
  // rawBody: the request body as received (a string or Buffer, before JSON.parse)
  return webhook.verify(rawBody, {
    "webhook-id": headers["webhook-id"],
    "webhook-timestamp": headers["webhook-timestamp"],
    "webhook-signature": headers["webhook-signature"],
  }); // throws if the signature or the timestamp is wrong
}
"""


PYTHON_ED25519 = """\
# pip install cryptography
import base64
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PUBLIC_KEY = "whpk_..."  # our public key, as shown above (no secret: it cannot sign)
key = Ed25519PublicKey.from_public_bytes(base64.b64decode(PUBLIC_KEY.removeprefix("whpk_")))

def verify(body: bytes, headers) -> None:
    # body: the raw request body; check webhook-timestamp is within 5 minutes of now too
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    for sig in headers["webhook-signature"].split():
        version, _, value = sig.partition(",")
        if version == "v1a":
            key.verify(base64.b64decode(value), signed)  # raises InvalidSignature if wrong
            return
    raise ValueError("no v1a signature")
"""

NODE_ED25519 = """\
// Node's own crypto: no package needed
import { createPublicKey, verify as edVerify } from "node:crypto";

const PUBLIC_KEY = "whpk_..."; // our public key, as shown above (no secret: it cannot sign)
const key = createPublicKey({ format: "der", type: "spki", key: Buffer.concat([
  Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(PUBLIC_KEY.slice(5), "base64")]) });

export function verify(rawBody, headers) {
  // rawBody: a Buffer of the request body as received; check webhook-timestamp is recent too
  const signed = Buffer.concat([Buffer.from(`${headers["webhook-id"]}.${headers["webhook-timestamp"]}.`), rawBody]);
  return headers["webhook-signature"].split(" ").some((sig) => sig.startsWith("v1a,") &&
    edVerify(null, signed, key, Buffer.from(sig.slice(4), "base64")));
}
"""


def fingerprint(secret: str) -> str:
    """The id of one whsec_ secret: the first 16 hex digits of the SHA-256 of its key."""
    raw = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw, validate=True)
    except (ValueError, binascii.Error):
        key = raw.encode()
    return hashlib.sha256(key).hexdigest()[:16]


def details(target, secrets) -> dict[str, Any]:
    """The signing details of a target (None target: the partner only pulls)."""
    if target is None:
        return {"auth": "none", "algorithm": "none: this partner takes no pushes", "keys": [], "headers": [],
                "python": "", "node": ""}
    kind = target.auth.type
    out: dict[str, Any] = {"auth": kind, "keys": [], "headers": list(ID_HEADERS), "python": "", "node": ""}
    if kind == "standard-webhooks":
        algorithms = signing.algorithms(target.auth)
        out["algorithm"] = " and ".join({"hmac-sha256": "HMAC-SHA256 with a shared secret (v1)",
                                         "ed25519": "Ed25519 with our private key (v1a)"}[a] for a in algorithms)
        hmac_secrets = secrets.get("secret_env")
        out["keys"] = [{"key_id": f"hmac-sha256:{fingerprint(part)}", "public_key": ""}
                       for part in (hmac_secrets.value.split() if hmac_secrets else ())]
        out["keys"] += [{"key_id": k["key_id"], "public_key": k["public_key"]} for k in signing.public_keys(secrets)]
        out["headers"].append(SIGNATURE_HEADER)
        if "hmac-sha256" in algorithms:
            out["python"], out["node"] = PYTHON, NODE
        if "ed25519" in algorithms:
            out["python"] += ("\n" if out["python"] else "") + PYTHON_ED25519
            out["node"] += ("\n" if out["node"] else "") + NODE_ED25519
    elif kind == "bearer":
        out["algorithm"] = "none: an Authorization: Bearer token you gave us (the body is not signed)"
        out["headers"].append(("Authorization", "Bearer <the token you gave us>"))
    elif kind == "basic":
        out["algorithm"] = "none: HTTP basic authentication (the body is not signed)"
        out["headers"].append(("Authorization", f"Basic <base64 of {target.auth.username}:<password>>"))
    else:
        out["algorithm"] = "none: pushes are not signed (ask us for a Standard Webhooks secret)"
    return out
