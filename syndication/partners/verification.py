"""What a partner needs to check that a push is ours: the algorithm, which key, the headers, and code.

    details(target, secrets)   # for the partner portal: never a secret, only what identifies one

Standard Webhooks (signing.py) is HMAC-SHA256 with a shared secret: there is no public key to
publish. Each secret is named by its fingerprint (the first 16 hex digits of the SHA-256 of
the decoded key), so a partner can tell which of its secrets we sign with, during a rotation
too, without anyone seeing the secret. Bearer and basic partners are told which header carries
their credential, never the credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

ID_HEADERS = [
    ("webhook-id", "the delivery id (msg_...): the same on every retry and replay of a delivery; dedupe on it"),
    ("webhook-timestamp", "unix seconds when this attempt was signed; refuse one more than 5 minutes away"),
]
SIGNATURE_HEADER = ("webhook-signature", "v1,<base64 of HMAC-SHA256(key, webhook-id + '.' + "
                    "webhook-timestamp + '.' + body)>; several, space-separated, while a secret is rotated")

PYTHON = """\
# pip install standardwebhooks
import os
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["SYNDICATION_WEBHOOK_SECRET"])  # the whsec_... secret we agreed on

def verify(body: bytes, headers) -> dict:
    # body: the raw request body, exactly as received (before any JSON parsing)
    return webhook.verify(body, {name: headers[name] for name in
                                 ("webhook-id", "webhook-timestamp", "webhook-signature")})
    # raises WebhookVerificationError if the signature or the timestamp is wrong
"""

NODE = """\
// npm install standardwebhooks
import { Webhook } from "standardwebhooks";

const webhook = new Webhook(process.env.SYNDICATION_WEBHOOK_SECRET); // the whsec_... secret we agreed on

export function verify(rawBody, headers) {
  // rawBody: the request body as received (a string or Buffer, before JSON.parse)
  return webhook.verify(rawBody, {
    "webhook-id": headers["webhook-id"],
    "webhook-timestamp": headers["webhook-timestamp"],
    "webhook-signature": headers["webhook-signature"],
  }); // throws if the signature or the timestamp is wrong
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
        out["algorithm"] = "HMAC-SHA256, Standard Webhooks v1 (a shared secret: there is no public key)"
        out["keys"] = [fingerprint(part) for part in secrets["secret_env"].value.split()]
        out["headers"].append(SIGNATURE_HEADER)
        out["python"], out["node"] = PYTHON, NODE
    elif kind == "bearer":
        out["algorithm"] = "none: an Authorization: Bearer token you gave us (the body is not signed)"
        out["headers"].append(("Authorization", "Bearer <the token you gave us>"))
    elif kind == "basic":
        out["algorithm"] = "none: HTTP basic authentication (the body is not signed)"
        out["headers"].append(("Authorization", f"Basic <base64 of {target.auth.username}:<password>>"))
    else:
        out["algorithm"] = "none: pushes are not signed (ask us for a Standard Webhooks secret)"
    return out
