"""`syndication receiver`: a partner-side endpoint to test an integration against.

Point a partner's `url` at it, publish, and watch one line per push:

    2026-11-25 10:00:01Z  example-2026-11-21-ru-exports v2  ninjs  signature ok  new  msg_...

It does what a careful partner does: verifies the Standard Webhooks signature with the
`standardwebhooks` library (secret read from the variable `--secret-env` names; several,
space-separated, while rotating), answers 401 to a bad one, and dedupes by `webhook-id`
(a retry or a replay of a delivery it already has is `duplicate`, answered 200 so the sender
stops). Everything else gets 200. Memory stays bounded: the newest SEEN_MAX ids are kept.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections import OrderedDict
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEEN_MAX = 100_000  # webhook-ids remembered for dedupe (oldest forgotten first)
BODY_MAX = 10 * 1024 * 1024  # a push bigger than this is not one of ours: 413
ARTICLE_URN = re.compile(r"urn:syndication:article:([^<\"'\s]+)")
RSS_VERSION = re.compile(r"version (\d+)")


def describe(content_type: str, body: bytes) -> tuple[str, str, str]:
    """(article id, version, format) of a push body, '-' for what the body does not say."""
    content_type = content_type.lower()
    if "atom" in content_type or "rss" in content_type:
        text = body.decode("utf-8", "replace")
        urn = ARTICLE_URN.search(text)
        version = RSS_VERSION.search(text) if "rss" in content_type else None  # atom carries none
        return (urn.group(1) if urn else "-", version.group(1) if version else "-",
                "rss" if "rss" in content_type else "atom")
    try:
        doc = json.loads(body)
    except ValueError:
        return "-", "-", content_type.split(";")[0] or "-"
    if not isinstance(doc, dict):
        return "-", "-", "json"
    standard = doc.get("standard") if isinstance(doc.get("standard"), dict) else {}
    if standard.get("name") == "ninjs":
        fmt = "ninjs3" if str(standard.get("version", "")).startswith("3") else "ninjs"
        urn = ARTICLE_URN.match(str(doc.get("uri", "")))
        return urn.group(1) if urn else "-", str(doc.get("version", "-")), fmt
    article = doc.get("article") if isinstance(doc.get("article"), dict) else {}
    return str(article.get("id", "-")), str(article.get("version", "-")), "json"


class Verifier:
    """Standard Webhooks verification with every secret of a rotation; None: nothing to check."""

    def __init__(self, secrets: str | None):
        from standardwebhooks.webhooks import Webhook

        self.hooks = [Webhook(s) for s in (secrets or "").split()]

    @property
    def checking(self) -> bool:
        return bool(self.hooks)

    def check(self, body: bytes, headers: dict[str, str]) -> str | None:
        """None if a secret verifies the push, else why not."""
        reason = "no secret"
        for hook in self.hooks:
            try:
                hook.verify(body, headers, json_parse=False)
                return None
            except Exception as exc:  # WebhookVerificationError, or a malformed header/body it trips on
                reason = str(exc) or type(exc).__name__
        return reason


class Seen:
    """webhook-ids already received, the newest `limit` of them."""

    def __init__(self, limit: int = SEEN_MAX):
        self.ids: OrderedDict[str, None] = OrderedDict()
        self.limit = limit
        self.lock = threading.Lock()

    def first_time(self, webhook_id: str) -> bool:
        with self.lock:
            if webhook_id in self.ids:
                self.ids.move_to_end(webhook_id)
                return False
            self.ids[webhook_id] = None
            if len(self.ids) > self.limit:
                self.ids.popitem(last=False)
            return True


def handler(verifier: Verifier, seen: Seen, out=sys.stdout):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "syndication-receiver"

        def log_message(self, *args):  # our one line per push is the log
            pass

        def do_GET(self):
            self._answer(200, {"receiver": "syndication", "push": "POST here, any path"})

        def do_POST(self):
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= BODY_MAX:
                self.close_connection = True
                return self._answer(413, {"error": f"Content-Length 0..{BODY_MAX} required"})
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            webhook_id = headers.get("webhook-id") or "-"
            article, version, fmt = describe(headers.get("content-type", ""), body)
            if verifier.checking:
                why = verifier.check(body, headers)
                signature = "signature ok" if why is None else "signature BAD"
            else:
                why, signature = None, "signature unchecked"
            fresh = why is None and (webhook_id == "-" or seen.first_time(webhook_id))
            outcome = "rejected" if why else ("new" if fresh else "duplicate")
            when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
            line = f"{when}  {article} v{version}  {fmt}  {signature}  {outcome}  {webhook_id}"
            print(line + (f"  ({why})" if why else ""), file=out, flush=True)
            if why:
                return self._answer(401, {"error": "bad signature", "detail": why})
            self._answer(200, {"ok": True, "duplicate": not fresh})

        def _answer(self, status: int, doc: dict) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def cmd_receiver(args) -> int:
    secrets = None
    if args.secret_env:
        secrets = os.environ.get(args.secret_env, "").strip()
        if not secrets:
            print(f"receiver: {args.secret_env} is not set (or empty): nothing to verify signatures with",
                  file=sys.stderr)
            return 2
    try:
        verifier = Verifier(secrets)
    except Exception as exc:  # a secret that is not whsec_<base64>
        print(f"receiver: {args.secret_env} does not hold a whsec_<base64> secret: {exc}", file=sys.stderr)
        return 2
    try:
        server = ThreadingHTTPServer((args.host, args.port), handler(verifier, Seen()))
    except OSError as exc:
        print(f"receiver: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    server.daemon_threads = True
    checked = (f"signatures checked with ${args.secret_env}" if verifier.checking
               else "signatures are not checked (no --secret-env)")
    print(f"receiver: listening on http://{args.host}:{server.server_port}/ (any path); {checked}; "
          "one line per push", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
