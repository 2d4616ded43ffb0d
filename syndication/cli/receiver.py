"""`syndication receiver`: a partner-side endpoint to test an integration against.

Point a partner's `url` at it, publish, and watch one line per push:

    2026-11-25 10:00:01Z  example-2026-11-21-ru-exports v2  ninjs  signature ok  new  msg_...

It does what a careful partner does: verifies the Standard Webhooks signature with the
`standardwebhooks` library (secret read from the variable `--secret-env` names; several,
space-separated, while rotating) and the `v1a` Ed25519 signature with `cryptography` (the
`whpk_` public key(s) read from the variable `--public-key-env` names), answers 401 to a bad one, and dedupes by `webhook-id`
(a retry or a replay of a delivery it already has is `duplicate`, answered 200 so the sender
stops). Memory stays bounded: the newest SEEN_MAX ids are kept.

It is the tool that tells a partner our signatures are right, so it must not be lied to:
- Only verified data is printed. A request that fails verification prints one line, `rejected
  signature BAD (why)`, with nothing taken from its body or headers; `why` is one of a fixed
  set of phrases, never an exception's text. (Without `--secret-env` or `--public-key-env` nothing is verified, and
  every line says `signature unchecked`.)
- Every field printed goes through `shown` (cli/shown.py): a plain id as it is, anything else
  quoted with control characters, bidi overrides and line separators escaped, so a body cannot
  end the line, forge another, or drive the terminal.
- Bodies are read by Content-Length only: a chunked body (or none declared) is 411, a bad
  length 400, more than BODY_MAX 413, each answered without reading the body and with the
  connection closed (what follows on it is no longer a request boundary).
- As a WebSub subscriber (`--websub`; syndication/cli/websub_receiver.py), it answers the hub's
  verification GET by echoing `hub.challenge` and checks each feed's `X-Hub-Signature` with the
  secret it subscribed with (`--hub-secret-env`), one line per verification and per feed.
- Every socket read and write times out after IDLE_SECONDS, a whole request gets
  REQUEST_SECONDS (a slow-loris peer is cut off), and at most MAX_CONNECTIONS are served at once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from syndication.cli import websub_receiver
from syndication.cli.shown import shown
from syndication.identity import article_id_from_uri
from syndication.partners import ed25519

SEEN_MAX = 100_000  # webhook-ids remembered for dedupe (oldest forgotten first)
BODY_MAX = 10 * 1024 * 1024  # a push bigger than this is not one of ours: 413
IDLE_SECONDS = 5.0  # any one read or write on a connection (an idle keep-alive connection is closed)
REQUEST_SECONDS = 10.0  # a whole request, first byte to answer
MAX_CONNECTIONS = 64
V1A_TOLERANCE = 5 * 60  # seconds a v1a push's timestamp may be off, as the library allows v1's
# Why a verification failed, in the library's own words when it is one of its fixed messages.
KNOWN_FAILURES = ("Missing required headers", "Invalid Signature Headers", "Message timestamp too old",
                  "Message timestamp too new", "No matching signature found")
# An article's identity URI in a feed document: the tag URI, or the urn used before issue 22.
ARTICLE_URI = re.compile(r"(?:tag:[^,:/\s<\"']+,[0-9-]+:article:|urn:syndication:article:)[^<\"'\s]+")
RSS_VERSION = re.compile(r"version (\d+)")


def describe(content_type: str, body: bytes) -> tuple[str, str, str]:
    """(article id, version, format) of a push body, '-' for what the body does not say."""
    content_type = content_type.lower()
    if "atom" in content_type or "rss" in content_type:
        text = body.decode("utf-8", "replace")
        uri = ARTICLE_URI.search(text)
        version = RSS_VERSION.search(text) if "rss" in content_type else None  # atom carries none
        return ((uri and article_id_from_uri(uri.group(0))) or "-", version.group(1) if version else "-",
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
        return article_id_from_uri(str(doc.get("uri", ""))) or "-", str(doc.get("version", "-")), fmt
    article = doc.get("article") if isinstance(doc.get("article"), dict) else {}
    return str(article.get("id", "-")), str(article.get("version", "-")), "json"


class Verifier:
    """Standard Webhooks verification: `v1` with every secret of a rotation (the `standardwebhooks`
    library), `v1a` with every Ed25519 public key (`cryptography`, which that library lacks)."""

    def __init__(self, secrets: str | None, public_keys: str | None = None):
        from standardwebhooks.webhooks import Webhook

        self.hooks = [Webhook(s) for s in (secrets or "").split()]
        self.publics = (public_keys or "").split()
        for key in self.publics:
            ed25519.public_key(key)  # BadKey now, not a 401 for every push

    @property
    def checking(self) -> bool:
        return bool(self.hooks or self.publics)

    def check(self, body: bytes, headers: dict[str, str]) -> str | None:
        """None if a secret or a public key verifies the push, else why not."""
        reason = "no secret"
        if self.publics:
            reason = self._check_v1a(body, headers)
            if reason is None:
                return None
        for hook in self.hooks:
            try:
                hook.verify(body, headers, json_parse=False)
                return None
            except Exception as exc:  # WebhookVerificationError, or a malformed header/body it trips on
                # An exception's text may quote the request (a header value): only fixed phrases.
                reason = str(exc) if str(exc) in KNOWN_FAILURES else f"malformed headers ({type(exc).__name__})"
        return reason

    def _check_v1a(self, body: bytes, headers: dict[str, str]) -> str | None:
        """The library's checks, for `v1a`: headers there, timestamp within V1A_TOLERANCE, a signature verifies."""
        msg_id, stamp, header = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
        if not (msg_id and stamp and header):
            return "Missing required headers"
        if not (stamp.isascii() and stamp.isdigit()):
            return "Invalid Signature Headers"
        age = time.time() - int(stamp)
        if age > V1A_TOLERANCE:
            return "Message timestamp too old"
        if age < -V1A_TOLERANCE:
            return "Message timestamp too new"
        return None if ed25519.verify(self.publics, msg_id, int(stamp), body, header) else "No matching signature found"


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


def refusal(headers) -> tuple[int, str] | None:
    """(status, why) when a POST's framing is not one we read, before a byte of its body is."""
    if headers.get_all("Transfer-Encoding"):
        return 411, "chunked or otherwise encoded body: send it with a Content-Length"
    lengths = headers.get_all("Content-Length") or []
    if not lengths:
        return 411, "no Content-Length"
    if len(lengths) > 1 or not lengths[0].strip().isdigit() or not lengths[0].strip().isascii():
        return 400, "Content-Length is not one decimal number"
    if int(lengths[0]) > BODY_MAX:
        return 413, f"body over {BODY_MAX} bytes"
    return None


def handler(verifier: Verifier, seen: Seen, out=sys.stdout, hub: websub_receiver.Subscriber | None = None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "syndication-receiver"
        timeout = IDLE_SECONDS  # every read and write on the socket: an idle or stalled peer is dropped

        def log_message(self, *args):  # our one line per push is the log
            pass

        def handle_one_request(self):
            # A peer that trickles a byte every few seconds passes every per-read timeout: the
            # whole request gets REQUEST_SECONDS, then the socket is shut and the thread is free.
            timer = threading.Timer(REQUEST_SECONDS, self._cut)
            timer.daemon = True
            timer.start()
            try:
                super().handle_one_request()
            finally:
                timer.cancel()

        def _cut(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def do_GET(self):
            if hub is not None and (answer := hub.verification(self.path)) is not None:
                self._say(answer[0])  # the challenge, echoed as the whole body (404: not a verification)
                return self._answer(200 if answer[1] is not None else 404, answer[1] or "")
            self._answer(200, {"receiver": "syndication", "push": "POST here, any path"})

        def do_POST(self):
            refused = refusal(self.headers)
            if refused:
                self.close_connection = True  # the body was not read: the stream is no longer in step
                self._say(f"rejected  HTTP {refused[0]}  ({refused[1]})")
                return self._answer(refused[0], {"error": refused[1]})
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            if len(body) < length:
                self.close_connection = True
                return self._say(f"rejected  incomplete body  ({len(body)} of {length} bytes arrived)")
            headers = {k.lower(): v for k, v in self.headers.items()}
            if hub is not None:
                line, ok = hub.content(body, headers)
                self._say(line)
                return self._answer(200 if ok else 401, {"ok": ok})
            if verifier.checking:
                why = verifier.check(body, headers)
                if why is not None:  # nothing of the request is shown: none of it is verified
                    self._say(f"rejected  signature BAD  ({why})")
                    return self._answer(401, {"error": "bad signature", "detail": why})
                signature = "signature ok"
            else:
                signature = "signature unchecked"
            webhook_id = headers.get("webhook-id") or "-"
            fresh = webhook_id == "-" or seen.first_time(webhook_id)
            article, version, fmt = (shown(x) for x in describe(headers.get("content-type", ""), body))
            self._say(f"{article} v{version}  {fmt}  {signature}  {'new' if fresh else 'duplicate'}  "
                      f"{shown(webhook_id)}")
            self._answer(200, {"ok": True, "duplicate": not fresh})

        def _say(self, line: str) -> None:
            when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
            print(f"{when}  {line}", file=out, flush=True)

        def _answer(self, status: int, doc: dict | str) -> None:
            data = doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(doc, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

    return Handler


class Server(ThreadingHTTPServer):
    """At most MAX_CONNECTIONS at once (one thread each); a connection beyond is closed at once."""

    daemon_threads = True

    def __init__(self, *args, **kwargs):
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        pass  # a peer that went away or was cut off: nothing to print over the push lines


def _env_keys(name: str | None, what: str) -> str | None:
    """The keys in the variable `name`; SystemExit(2) with one line if it is named but empty."""
    if not name:
        return None
    value = os.environ.get(name, "").strip()
    if not value:
        print(f"receiver: {name} is not set (or empty): no {what} to verify signatures with", file=sys.stderr)
        raise SystemExit(2)
    return value


def cmd_receiver(args) -> int:
    public_env = getattr(args, "public_key_env", None)
    secrets = _env_keys(args.secret_env, "secret")
    publics = _env_keys(public_env, "public key")
    try:
        verifier = Verifier(secrets, publics)
    except ed25519.BadKey as exc:
        print(f"receiver: {public_env}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a secret that is not whsec_<base64>
        print(f"receiver: {args.secret_env} does not hold a whsec_<base64> secret: {exc}", file=sys.stderr)
        return 2
    hub = None
    if getattr(args, "websub", False):
        hub = websub_receiver.Subscriber(_env_keys(args.hub_secret_env, "hub.secret"))
    try:
        server = Server((args.host, args.port), handler(verifier, Seen(), hub=hub))
    except OSError as exc:
        print(f"receiver: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    names = [f"${n}" for n in (args.secret_env, public_env) if n]
    checked = (f"signatures checked with {' and '.join(names)}" if verifier.checking
               else "signatures are not checked (no --secret-env or --public-key-env)")
    if hub is not None:
        checked = (f"X-Hub-Signature checked with ${args.hub_secret_env}" if hub.secret is not None
                   else "X-Hub-Signature not checked (no --hub-secret-env)")
        print(f"receiver: WebSub subscriber listening on http://{args.host}:{server.server_port}/ (any path as "
              f"hub.callback); verifications answered with hub.challenge; {checked}; one line per feed", flush=True)
    else:
        print(f"receiver: listening on http://{args.host}:{server.server_port}/ (any path); {checked}; "
              "one line per push", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
