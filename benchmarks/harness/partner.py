"""The fast partner: a loopback HTTP server that answers every push at once, and the driver's handle on it.

The server runs in its own process (`python -m benchmarks.harness.partner PORT`), so that it
never competes with the driver for the GIL: a minimal HTTP/1.1 keep-alive server on asyncio
(uvloop when installed) that answers every POST with 200 at once and records the time and
`webhook-id` of each request. It parses only what it needs (the request line, Content-Length,
webhook-id, webhook-timestamp, webhook-signature, Connection), so it costs far less per request
than the service it measures. It does not verify signatures (a partner's cost, not the
service's): it counts the requests that carry one and keeps the first signed push after a reset
(id, timestamp, signature, body), for the driver to verify.

Control endpoints (GET, answered by the same server):

    /_stats   counts: total, signed, unique webhook-ids, first/last time, bytes, paths, open connections,
              hung (requests to a hanging path)
    /_log     [(time received, webhook-id, path)] of each first receipt

A *hanging partner* is any path under /hang/: the server reads the request and never answers it
(nor anything after it on that connection); the connection stays open until the client gives up.
    /_sample  the first signed push (to /p/...) since the last reset: id, timestamp, signature, body (latin-1)
    /_reset   forget everything but the open connections

`Partner` is the driver's handle: the process, those endpoints, and each partner's URL.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import sys
import time
from pathlib import Path

from benchmarks.harness import HOST
from benchmarks.harness.processes import Proc, Processes, free_port

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"


# =========================================================================== the server (its own process)


class _PartnerState:
    def __init__(self):
        self.reset()
        self.connections = 0

    def reset(self):
        self.total = 0
        self.signed = 0
        self.sample: dict | None = None
        self.nbytes = 0
        self.first = None
        self.last = None
        self.last_new = None
        self.ids: set[str] = set()
        self.paths: set[str] = set()
        self.log: list[tuple[float, str, str]] = []
        self.hung = 0

    def received(self, now: float, path: str, length: int, wid: str, ts: str, sig: str, body: bytes) -> None:
        self.total += 1
        if sig:
            self.signed += 1
            if self.sample is None and path.startswith("/p/"):
                self.sample = {"id": wid, "timestamp": ts, "signature": sig, "body": body.decode("latin-1")}
        self.nbytes += length
        if self.first is None:
            self.first = now
        self.last = now
        if wid and wid not in self.ids:  # a repeated id is a duplicate push: counted, not logged
            self.ids.add(wid)
            self.last_new = now
            self.log.append((now, wid, path))
        self.paths.add(path)


def _response(status: bytes, doc: dict) -> bytes:
    body = json.dumps(doc).encode()
    return b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)


def _control(state: _PartnerState, path: str) -> bytes:
    if path == "/_stats":
        return _response(b"200 OK", {
            "total": state.total, "signed": state.signed, "unique": len(state.ids), "first": state.first, "last": state.last,
            "last_new": state.last_new, "bytes": state.nbytes, "paths": len(state.paths),
            "connections": state.connections, "hung": state.hung})
    if path == "/_log":
        return _response(b"200 OK", {"log": state.log})
    if path == "/_sample":
        return _response(b"200 OK", {"sample": state.sample})
    if path == "/_reset":
        state.reset()
        return _response(b"200 OK", {"ok": True})
    return _response(b"404 Not Found", {"error": "not found"})


def _parse_head(head: list[bytes]) -> tuple[str, int, str, str, str, bool]:
    """(path, Content-Length, webhook-id, webhook-timestamp, webhook-signature, Connection: close)
    of a request head split into lines."""
    length, wid, ts, sig, close = 0, "", "", "", False
    for line in head[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"webhook-id":
            wid = value.strip().decode()
        elif name == b"webhook-timestamp":
            ts = value.strip().decode()
        elif name == b"webhook-signature":
            sig = value.strip().decode()
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    path = (head[0].split(b" ") + [b"", b""])[1].decode()
    return path, length, wid, ts, sig, close


class _PartnerProtocol(asyncio.Protocol):
    def __init__(self, state: _PartnerState):
        self.state = state
        self.buf = bytearray()
        self.transport = None
        self.hanging = False

    def connection_made(self, transport):
        self.transport = transport
        self.state.connections += 1

    def data_received(self, data: bytes):
        if self.hanging:
            return  # a hanging partner: read, never answer
        buf = self.buf
        buf += data
        out = []
        close = False
        while (end := buf.find(b"\r\n\r\n")) >= 0:  # every complete request in the buffer (pipelining)
            path, length, wid, ts, sig, closing = _parse_head(bytes(buf[:end]).split(b"\r\n"))
            total = end + 4 + length
            if len(buf) < total:
                break  # the body is still on its way
            now = time.time()
            keep = sig and self.state.sample is None and path.startswith("/p/")  # only the sample's body
            body = bytes(buf[end + 4:total]) if keep else b""
            del buf[:total]
            if path.startswith("/hang/"):
                self.state.hung += 1
                self.hanging = True
                buf.clear()
                break
            if path.startswith("/_"):
                out.append(_control(self.state, path))
            else:
                self.state.received(now, path, length, wid, ts, sig, body)
                out.append(_OK)
            close = close or closing
        if out:
            self.transport.write(b"".join(out))
        if close:
            self.transport.close()

    def connection_lost(self, exc):
        self.state.connections -= 1


def serve_partner(port: int) -> None:
    try:
        import uvloop

        uvloop.install()
        flavour = "uvloop"
    except ImportError:
        flavour = "asyncio"
    state = _PartnerState()

    async def run():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _PartnerProtocol(state), HOST, port, backlog=1024)
        print(f"partner server ({flavour}) listening on http://{HOST}:{port}", flush=True)
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(run())


# =========================================================================== the driver's handle


class Partner:
    """The driver's handle on the fast partner server: its process and control endpoints."""

    def __init__(self, proc: Proc, port: int):
        self.proc, self.port = proc, port
        self.conn: http.client.HTTPConnection | None = None
        self.flavour = "uvloop" if "(uvloop)" in proc.log.read_text() else "asyncio"

    def _get(self, path: str) -> dict:
        for attempt in range(2):  # the kept-alive connection may have been closed: one new one
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                return json.loads(resp.read())
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt:
                    self.proc.alive()
                    raise
        raise AssertionError("unreachable")

    def stats(self) -> dict:
        return self._get("/_stats")

    def log(self) -> list[tuple[float, str, str]]:
        return [tuple(x) for x in self._get("/_log")["log"]]

    def sample(self) -> dict | None:
        """The first signed push since the last reset: id, timestamp, signature, body (bytes); None if none."""
        s = self._get("/_sample")["sample"]
        return s and {**s, "body": s["body"].encode("latin-1")}

    def reset(self) -> None:
        self._get("/_reset")

    def url(self, partner_id: str, hanging: bool = False) -> str:
        """The partner's push URL; `hanging`: one the server reads and never answers."""
        return f"http://{HOST}:{self.port}/{'hang' if hanging else 'p'}/{partner_id}"


def start_partner(procs: Processes, logdir: Path) -> Partner:
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.harness.partner", str(port)]
    proc = procs.start(Proc("partner", argv, dict(os.environ, PYTHONUNBUFFERED="1"), logdir))
    proc.wait_log("listening on", timeout=30)
    return Partner(proc, port)


if __name__ == "__main__":
    serve_partner(int(sys.argv[1]))
