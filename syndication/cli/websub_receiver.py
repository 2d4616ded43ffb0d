"""`syndication receiver --websub`: the receiver as a WebSub subscriber (W3C WebSub 5.3, 7, 8).

    hub = Subscriber(secret)          # the hub.secret subscribed with, or None (signatures unchecked)
    hub.verification(path)            # GET callback?hub.mode=...: (line, challenge to echo) | None
    hub.content(body, headers)        # POST of a feed: (line, whether to accept it)

What a careful subscriber does: it echoes `hub.challenge` only for a verification it can read
(mode, topic and challenge present), and with a secret it accepts a feed only when
`X-Hub-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact body (compared in constant time;
sha1, which WebSub 1.0 also names, is accepted as the hub may choose it). Every value printed
goes through `shown` (cli/shown.py): a hostile body or header cannot forge a line.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import parse_qs, urlsplit

from syndication.cli.shown import shown

SELF = re.compile(r'<([^>]*)>\s*;\s*rel="?self"?')
ALGORITHMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}


class Subscriber:
    def __init__(self, secret: str | None):
        self.secret = secret

    def verification(self, path: str) -> tuple[str, str | None] | None:
        """A verification of intent: the line to print and the challenge to echo (None: answer 404)."""
        query = parse_qs(urlsplit(path).query)
        if "hub.mode" not in query:
            return None
        mode, topic = query["hub.mode"][0], query.get("hub.topic", ["-"])[0]
        challenge = query.get("hub.challenge", [None])[0]
        if mode not in ("subscribe", "unsubscribe") or challenge is None:
            return f"verification {shown(mode)} {shown(topic)}: not understood, answered 404", None
        lease = query.get("hub.lease_seconds", [None])[0]
        lease_text = f", lease {shown(lease)} s" if lease else ""
        return f"verification {mode} {shown(topic)}{lease_text}: answered with the challenge", challenge

    def check(self, body: bytes, header: str | None) -> str:
        if self.secret is None:
            return "signature unchecked"
        algorithm, _, given = (header or "").partition("=")
        digest = ALGORITHMS.get(algorithm.strip().lower())
        if digest is None or not given:
            return "signature BAD (no X-Hub-Signature)" if not header else "signature BAD (unknown method)"
        expected = hmac.new(self.secret.encode(), body, digest).hexdigest()
        return "signature ok" if hmac.compare_digest(expected, given.strip().lower()) else "signature BAD"

    def content(self, body: bytes, headers: dict[str, str]) -> tuple[str, bool]:
        """A feed pushed by the hub: one line (topic, type, size, signature) and whether it is accepted."""
        signature = self.check(body, headers.get("x-hub-signature"))
        if signature.startswith("signature BAD"):
            return f"rejected  {signature}", False
        found = SELF.search(headers.get("link", ""))
        topic = shown(found.group(1)) if found else "-"
        ctype = shown(headers.get("content-type", "-").split(";")[0])
        return f"feed {topic}  {ctype}  {len(body)} bytes  {signature}", True
