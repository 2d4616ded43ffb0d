"""A partner stand-in: a real HTTP server on 127.0.0.1 that records every request.

    partner = Receiver.start()
    partner.script([503, 503, 503])        # next three requests get 503, then 200
    partner.requests                       # list of Request(path, headers, body, at)
    partner.effective()                    # requests deduplicated by webhook-id
    partner.peak                           # the most requests it was answering at once
    Receiver.start(tls=server_context)     # HTTPS; Request.peer_cert: the client's certificate, as
                                           # the server verified it; tls_refused: handshakes it refused

Like svix's TestReceiver: status codes, extra headers and delays are settable.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status_sent: int | None = None  # None: never answered (a hanging partner)
    peer_cert: dict | None = None  # over TLS: the client certificate the server verified (None: none sent)

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")


@dataclass
class Reply:
    status: int = 200
    headers: dict | None = None
    delay: float = 0.0
    body: bytes = b'{"ok":true}'
    hang: bool = False  # accept the request, never answer (until the client gives up)


class Receiver:
    def __init__(self):
        self.requests: list[Request] = []
        self._script: list[Reply] = []
        self.default = Reply()
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.connections = 0
        self.active = 0  # requests being answered now
        self.peak = 0  # the most ever answered at once (a partner's concurrency, as it saw it)
        self.tls: ssl.SSLContext | None = None
        self.tls_refused = 0  # TLS handshakes the server refused (no client certificate, not trusted)

    @classmethod
    def start(cls, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> "Receiver":
        """`host`: the address to listen on (tests/scale/ listens on a bridge address); `tls`: the
        server's context (HTTPS; with CERT_REQUIRED it refuses clients without a trusted certificate)."""
        rec = cls()
        rec.tls = tls
        outer = rec

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            refused = False

            def setup(self):
                if outer.tls is not None:  # the handshake on this connection's thread, not the accept loop
                    self.request = outer.tls.wrap_socket(self.request, server_side=True, do_handshake_on_connect=False)
                    try:
                        self.request.do_handshake()
                    except (ssl.SSLError, OSError):
                        self.refused = True
                        with outer.lock:
                            outer.tls_refused += 1
                super().setup()
                with outer.lock:
                    outer.connections += 1

            def handle(self):
                if not self.refused:
                    super().handle()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with outer.lock:
                    reply = outer._script.pop(0) if outer._script else outer.default
                    peer = self.request.getpeercert() if outer.tls is not None else None
                    outer.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                  body, time.time(), None if reply.hang else reply.status, peer))
                    outer.active += 1
                    outer.peak = max(outer.peak, outer.active)
                try:
                    self._answer(reply)
                finally:
                    with outer.lock:
                        outer.active -= 1

            def _answer(self, reply: Reply) -> None:
                if reply.hang:
                    time.sleep(30)
                    self.close_connection = True
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for k, v in (reply.headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args):
                pass

        rec.server = ThreadingHTTPServer((host, 0), Handler)
        rec.server.daemon_threads = True
        threading.Thread(target=rec.server.serve_forever, daemon=True).start()
        return rec

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}/ingest"

    def script(self, replies) -> None:
        with self.lock:
            self._script = [r if isinstance(r, Reply) else Reply(status=r) for r in replies]

    def for_article(self, article_id: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if article_id.encode() in r.body]

    def effective(self) -> dict[str, Request]:
        with self.lock:
            out = {}
            for r in self.requests:
                out.setdefault(r.webhook_id, r)
            return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
