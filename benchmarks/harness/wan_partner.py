"""Partners far away: one asyncio process serving many partners, each with a round trip and a profile.

Runs as its own process (`python -m benchmarks.harness.wan_partner ADDRESS CONTROL_PORT [CERT_PEM]`,
inside the partners' network namespace: harness/netns.py). The driver POSTs `/_setup` with the
partners and their profiles; the server opens one listening port per partner (a partner is its own
host:port, as partners elsewhere are: clients keep one connection pool per partner) and answers
pushes on `/p/<id>` as a partner that far away would.

The round trip is added here (this kernel has no netem; see netns.py for the tc commands on a
stock kernel). A request that arrives at time t is answered at

    t + rtt + server time                    (rtt: request out and answer back)
      + rtt   on a connection's first request (its TCP handshake, which the kernel answered at once)
      + rtt   more over TLS (a TLS 1.3 handshake's round trip)

and the partner "has" the push at t + (the handshakes) + rtt / 2, the time recorded for latency.
So a client sees the latency and the connection costs of a partner `rtt` away; its CPU per
request is unchanged. Profile fields (all optional):

    rtt_ms       round trip (default 100)
    server_ms    server time before answering, and `jitter_ms`: uniform in server_ms +- jitter_ms
    p5xx         share of deliveries whose first attempt is answered 503 (the retry succeeds)
    phang        share of deliveries whose first attempt hangs: read, never answered (nor anything
                 after it on that connection) until the client gives up
    hang         every request hangs (a partner that is down behind a live load balancer)
    hang_posts   every POST hangs, GETs are answered (a WebSub subscriber that verified, then hangs)

WebSub subscribers (benchmarks/websub.py) are served too: a GET carrying `hub.challenge` is a
verification of intent, answered with the challenge after the round trip (logged as article
"verify"); a POST whose body is not an event (a feed's bytes) is logged under "feed:<hash of the
body>", so every subscriber that got one version counts under one key.

Which deliveries fail is a hash of (article id, partner id): every design sent the same events
meets the same failures. The article id is read from the push body (json format: article.id).

Control (plain HTTP on CONTROL_PORT): POST /_setup {"tls", "partners": [[id, profile], ...],
"profiles": {name: {...}}} -> {"ports": {id: port}} (closes the previous listeners and
connections); GET /_stats; GET /_log (every request: partner, article, attempt, status, times; a hung request's
"answered" time is when the client closed the connection);
GET /_sample (the first signed push: id, timestamp, signature, body); POST /_reset (forget the
counts and log). `WanPartners` is the driver's handle.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import signal
import ssl
import sys
import time
from pathlib import Path

from benchmarks.harness.processes import Proc, Processes

_STATUS = {200: b"200 OK", 503: b"503 Service Unavailable"}


def fate(article: str, partner: str) -> tuple[float, float]:
    """Two uniform [0, 1) numbers fixed by the delivery: its fate, and its server time's jitter."""
    d = hashlib.blake2b(f"{article}|{partner}".encode(), digest_size=16).digest()
    return int.from_bytes(d[:8]) / 2**64, int.from_bytes(d[8:]) / 2**64


# =========================================================================== the server (its own process)


class _State:
    def __init__(self):
        self.servers: list[asyncio.AbstractServer] = []
        self.conns: set = set()
        self.reset()

    def reset(self):
        self.log: list[list] = []
        self.attempts: dict[tuple[str, str], int] = {}
        self.opened = 0
        self.requests = 0
        self.sample: dict | None = None
        self.ok: set[tuple[str, str]] = set()  # (partner, article) answered 200 (or about to be)
        self.ok_by_article: dict[str, int] = {}
        self.last_answer = 0.0
        self.by_status: dict[str, int] = {}

    def record(self, entry: list) -> None:
        self.log.append(entry)
        self.by_status[str(entry[3])] = self.by_status.get(str(entry[3]), 0) + 1

    def stats(self) -> dict:
        return {"opened": self.opened, "open": len(self.conns), "requests": self.requests, "by_status": self.by_status,
                "ok_unique": len(self.ok), "ok_by_article": self.ok_by_article, "last_answer": self.last_answer}


def _head(buf: bytes) -> tuple[str, dict[bytes, bytes]]:
    lines = buf.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return (lines[0].split(b" ") + [b"", b""])[1].decode(), headers


def _response(status: int, body: bytes = b'{"ok":true}', ctype: bytes = b"application/json") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        _STATUS[status], ctype, len(body), body)


def _challenge(path: str) -> str | None:
    """A WebSub verification's hub.challenge (GET callback?hub.mode=...&hub.challenge=...), or None."""
    from urllib.parse import parse_qs, urlsplit

    found = parse_qs(urlsplit(path).query).get("hub.challenge")
    return found[0] if found else None


class _Push(asyncio.Protocol):
    """One connection to one partner."""

    def __init__(self, state: _State, pid: str, profile: dict, tls: bool):
        self.state, self.pid, self.profile, self.tls = state, pid, profile, tls
        self.rtt = profile.get("rtt_ms", 100) / 1000
        self.buf = bytearray()
        self.first = True
        self.hanging: list | None = None  # the log entry of the request this connection hangs on
        self.free_at = 0.0  # answers on one connection go out in order
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.state.opened += 1
        self.state.conns.add(self)

    def connection_lost(self, exc):
        self.state.conns.discard(self)
        self.transport = None
        if self.hanging:
            self.hanging[6] = time.time()  # how long the client was held

    def data_received(self, data: bytes):
        if self.hanging:
            return
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            path, headers = _head(bytes(self.buf[:end]))
            total = end + 4 + int(headers.get(b"content-length", b"0"))
            if len(self.buf) < total:
                return
            body = bytes(self.buf[end + 4:total])
            del self.buf[:total]
            self.request(path, headers, body)
            if self.hanging:
                return

    def request(self, path: str, headers: dict, body: bytes) -> None:
        now = time.time()
        st, prof = self.state, self.profile
        st.requests += 1
        challenge = _challenge(path)
        try:
            article = json.loads(body)["article"]["id"]
        except (ValueError, KeyError, TypeError):
            article = headers.get(b"webhook-id", b"").decode() or (
                "verify" if challenge is not None else "feed:" + hashlib.blake2b(body, digest_size=6).hexdigest())
        key = (self.pid, article)
        attempt = st.attempts[key] = st.attempts.get(key, 0) + 1
        shake = (self.rtt * (2 if self.tls else 1)) if self.first else 0.0
        self.first = False
        x, jitter = fate(article, self.pid)
        wid = headers.get(b"webhook-id", b"").decode()
        sig = headers.get(b"webhook-signature", b"").decode()
        if sig and st.sample is None:
            st.sample = {"id": wid, "timestamp": headers.get(b"webhook-timestamp", b"").decode(), "signature": sig,
                         "body": body.decode("latin-1")}
        has = now + shake + self.rtt / 2
        if prof.get("hang") or (attempt == 1 and x < prof.get("phang", 0.0)) or \
                (prof.get("hang_posts") and challenge is None):
            self.hanging = [self.pid, article, attempt, 0, now, has, None, shake > 0, wid]
            st.record(self.hanging)  # its "answered" time becomes the moment the client gives up
            return
        status = 503 if attempt == 1 and x < prof.get("phang", 0.0) + prof.get("p5xx", 0.0) else 200
        server = max(0.0, prof.get("server_ms", 0) + (2 * jitter - 1) * prof.get("jitter_ms", 0)) / 1000
        answer = max(now + shake + self.rtt + server, self.free_at)
        self.free_at = answer
        st.last_answer = max(st.last_answer, answer)
        if status == 200 and key not in st.ok:
            st.ok.add(key)
            st.ok_by_article[article] = st.ok_by_article.get(article, 0) + 1
        st.record([self.pid, article, attempt, status, now, has, answer, shake > 0, wid])
        reply = _response(status) if challenge is None else _response(status, challenge.encode(), b"text/plain")
        asyncio.get_running_loop().call_later(max(0.0, answer - time.time()), self.answer, reply)

    def answer(self, reply: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply)


class _Control(asyncio.Protocol):
    def __init__(self, state: _State, address: str, cert: str | None):
        self.state, self.address, self.cert = state, address, cert
        self.buf = bytearray()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes):
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            path, headers = _head(bytes(self.buf[:end]))
            total = end + 4 + int(headers.get(b"content-length", b"0"))
            if len(self.buf) < total:
                return
            body = bytes(self.buf[end + 4:total])
            del self.buf[:total]
            asyncio.ensure_future(self.handle(path, body))

    async def handle(self, path: str, body: bytes) -> None:
        st = self.state
        if path == "/_setup":
            doc = await self.setup(json.loads(body))
        elif path == "/_stats":
            doc = st.stats()
        elif path == "/_log":
            doc = {"log": st.log}
        elif path == "/_sample":
            doc = {"sample": st.sample}
        elif path == "/_reset":
            st.reset()
            doc = {"ok": True}
        else:
            doc = {"error": "not found"}
        self.transport.write(_response(200, json.dumps(doc).encode()))

    async def setup(self, doc: dict) -> dict:
        st = self.state
        for s in st.servers:
            s.close()
        for c in list(st.conns):
            if c.transport:
                c.transport.abort()
        st.servers, st.conns = [], set()
        st.reset()
        ctx = None
        if doc.get("tls"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert)
        loop = asyncio.get_running_loop()
        ports = {}
        for pid, name in doc["partners"]:
            prof = doc["profiles"][name]
            server = await loop.create_server(lambda pid=pid, prof=prof: _Push(st, pid, prof, ctx is not None),
                                              self.address, 0, ssl=ctx, backlog=1024)
            st.servers.append(server)
            ports[pid] = server.sockets[0].getsockname()[1]
        return {"ports": ports}


def serve(address: str, control: int, cert: str | None) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # hundreds of listeners, thousands of connections
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    state = _State()

    async def run():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Control(state, address, cert), address, control)
        print(f"wan partners listening on {address}, control port {control}", flush=True)
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(run())


# =========================================================================== the driver's handle


class WanPartners:
    """The driver's handle: the process, setup per scenario, counts, the log, each partner's URL."""

    def __init__(self, proc: Proc, address: str, control: int):
        self.proc, self.address, self.control = proc, address, control
        self.ports: dict[str, int] = {}
        self.tls = False

    def _call(self, path: str, doc: dict | None = None) -> dict:
        conn = http.client.HTTPConnection(self.address, self.control, timeout=60)
        try:
            body = json.dumps(doc).encode() if doc is not None else None
            conn.request("POST" if body is not None else "GET", path, body=body)
            return json.loads(conn.getresponse().read())
        except (OSError, http.client.HTTPException):
            self.proc.alive()
            raise
        finally:
            conn.close()

    def setup(self, partners: list[tuple[str, str]], profiles: dict[str, dict], tls: bool) -> None:
        """Serve these partners (id, profile name), each on a port of its own; drops every connection."""
        self.ports = self._call("/_setup", {"partners": partners, "profiles": profiles, "tls": tls})["ports"]
        self.tls = tls

    def url(self, pid: str) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}:{self.ports[pid]}/p/{pid}"

    def stats(self) -> dict:
        return self._call("/_stats")

    def log(self) -> list[list]:
        """[partner, article, attempt, status (0: hung), t arrived, t partner has it, t answered, new connection, webhook-id]."""
        return self._call("/_log")["log"]

    def sample(self) -> dict | None:
        s = self._call("/_sample")["sample"]
        return s and {**s, "body": s["body"].encode("latin-1")}

    def reset(self) -> None:
        self._call("/_reset", {})


def start_wan_partners(procs: Processes, logdir: Path, net, cert: str | None) -> WanPartners:
    from benchmarks.harness.processes import free_port

    control = free_port() if not net.made else 9000  # a fresh namespace has every port free
    argv = net.exec_argv([sys.executable, "-m", "benchmarks.harness.wan_partner", net.address, str(control)]
                         + ([cert] if cert else []))
    proc = procs.start(Proc("wan-partners", argv, dict(os.environ, PYTHONUNBUFFERED="1"), logdir))
    proc.wait_log("listening on", timeout=30)
    return WanPartners(proc, net.address, control)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
