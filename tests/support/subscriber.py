"""WebSub subscribers for the hub tests: one real HTTP server on 127.0.0.1, one callback per path.

    subs = Subscribers.start()
    cb = subs.callback("reader-1")              # http://127.0.0.1:PORT/cb/reader-1
    subs.verify["reader-1"] = "wrong"           # echo (default) | wrong | 404 | 500 | 500-once
    subs.content["reader-1"] = "hang"           # ok (default) | hang (never answers until stop) | a status
    subs.verifications("reader-1")              # [{"hub.mode": ..., "hub.challenge": ...}, ...]
    subs.received("reader-1")                   # [Post(headers, body, at), ...]

Like websub.rocks' test subscribers: the verification GET is answered by echoing hub.challenge
(or not), and content POSTs are recorded with their headers, body and arrival time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # 200 subscribers' connections at once (the default backlog is 5)


@dataclass
class Post:
    headers: dict[str, str]
    body: bytes
    at: float


class Subscribers:
    def __init__(self):
        self.verify: dict[str, str] = {}
        self.content: dict[str, str] = {}
        self.gets: dict[str, list[dict]] = {}
        self.posts: dict[str, list[Post]] = {}
        self.lock = threading.Lock()
        self.release = threading.Event()  # frees hanging callbacks
        self.server: ThreadingHTTPServer | None = None

    @classmethod
    def start(cls) -> "Subscribers":
        subs = cls()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _name(self) -> str:
                return urlsplit(self.path).path.rpartition("/")[2]

            def do_GET(self):
                name = self._name()
                params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
                with subs.lock:
                    subs.gets.setdefault(name, []).append(params)
                    how = subs.verify.get(name, "echo")
                    if how == "500-once":
                        subs.verify[name] = "echo"
                if how == "echo":
                    self._answer(200, params.get("hub.challenge", "").encode())
                elif how == "wrong":
                    self._answer(200, b"not the challenge")
                else:
                    self._answer(int(how.split("-")[0]), b"no")

            def do_POST(self):
                name = self._name()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with subs.lock:
                    subs.posts.setdefault(name, []).append(
                        Post({k.lower(): v for k, v in self.headers.items()}, body, time.time()))
                    how = subs.content.get(name, "ok")
                if how == "hang":
                    subs.release.wait(30)
                    self.close_connection = True
                    return
                self._answer(int(how) if how.isdigit() else 200, b"thanks")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        subs.server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=subs.server.serve_forever, daemon=True).start()
        return subs

    def callback(self, name: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server.server_address[1]}/cb/{name}"

    def verifications(self, name: str) -> list[dict]:
        with self.lock:
            return list(self.gets.get(name, []))

    def received(self, name: str) -> list[Post]:
        with self.lock:
            return list(self.posts.get(name, []))

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
