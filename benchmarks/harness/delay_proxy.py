"""A TCP delay proxy: Redis "1-2 ms away" on one machine, and a count of the round trips through it.

Runs as its own process (`python -m benchmarks.harness.delay_proxy LISTEN_PORT TARGET_PORT
CONTROL_PORT DELAY_MS`): every connection to 127.0.0.1:LISTEN_PORT is forwarded to
127.0.0.1:TARGET_PORT, bytes both ways, each chunk held for DELAY_MS before it is written on
(each direction: a round trip costs about 2 x DELAY_MS more). Order is kept: one queue per
direction, written in arrival order, each chunk no earlier than its arrival + the delay. The
event loop's own timers have ~1 ms resolution (epoll), so the delays are timed by a thread
(_Timer) that hands each due write back to the loop; the driver still measures the real round
trip (PING through the proxy) and reports it.

It also counts the chunks read from clients (client -> server): each is one request or one
pipeline, i.e. one round trip, which the benchmark reports per delivery.

Control (a line in, a JSON line out, on 127.0.0.1:CONTROL_PORT): `stats` (chunks and bytes each
way, connections) and `reset`. `DelayProxy` is the driver's handle.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from pathlib import Path

from benchmarks.harness import HOST
from benchmarks.harness.processes import Proc, Processes, free_port

DEFAULT_DELAY_MS = 0.75


class _Counts:
    def __init__(self):
        self.connections = 0
        self.reset()

    def reset(self):
        self.up_chunks = self.up_bytes = self.down_chunks = self.down_bytes = 0

    def doc(self) -> dict:
        return {"up_chunks": self.up_chunks, "up_bytes": self.up_bytes, "down_chunks": self.down_chunks,
                "down_bytes": self.down_bytes, "connections": self.connections}


class _Timer:
    """Sub-millisecond timers for the event loop: a thread sleeps precisely (a condition wait) until the
    earliest due time and hands the callback to the loop (call_soon_threadsafe). The loop's own timers
    have ~1 ms resolution (epoll), which would turn a 0.75 ms delay into 1-1.5 ms."""

    def __init__(self, loop):
        self.loop = loop
        self.heap: list = []
        self.seq = 0
        self.cond = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def call_at(self, due: float, cb) -> None:  # due: time.monotonic()
        with self.cond:
            self.seq += 1
            heapq.heappush(self.heap, (due, self.seq, cb))
            if self.heap[0][2] is cb:
                self.cond.notify()

    def _run(self) -> None:
        with self.cond:
            while True:
                if not self.heap:
                    self.cond.wait()
                    continue
                wait = self.heap[0][0] - time.monotonic()
                if wait > 0:
                    self.cond.wait(wait)
                    continue
                _, _, cb = heapq.heappop(self.heap)
                self.loop.call_soon_threadsafe(cb)


class _Line:
    """One direction of one connection: chunks written on `writer` in order, each `delay` s after it arrived."""

    def __init__(self, writer, delay: float, timer: _Timer):
        self.writer, self.delay, self.timer = writer, delay, timer
        self.queue: deque = deque()
        self.closing = False

    def push(self, data: bytes) -> None:
        if self.delay <= 0:
            self.writer.write(data)
            return
        self.queue.append((time.monotonic() + self.delay, data))
        if len(self.queue) == 1:
            self.timer.call_at(self.queue[0][0], self.flush)

    def flush(self) -> None:
        now = time.monotonic() + 50e-6  # what is due within 50 µs goes now
        out = []
        while self.queue and self.queue[0][0] <= now:
            out.append(self.queue.popleft()[1])
        if out and not self.writer.is_closing():
            self.writer.write(b"".join(out))
        if self.queue:
            self.timer.call_at(self.queue[0][0], self.flush)
        elif self.closing:
            self.writer.close()

    def close(self) -> None:
        self.closing = True
        if not self.queue:
            self.writer.close()


async def _pump(reader, line: _Line, count) -> None:
    try:
        while data := await reader.read(1 << 16):
            count(len(data))
            line.push(data)
    except (ConnectionError, OSError):
        pass
    finally:
        line.close()


async def _serve(listen: int, target: int, control: int, delay: float) -> None:
    counts = _Counts()
    timer = _Timer(asyncio.get_running_loop())

    def up(n):
        counts.up_chunks += 1
        counts.up_bytes += n

    def down(n):
        counts.down_chunks += 1
        counts.down_bytes += n

    async def client(cr, cw):
        try:
            sr, sw = await asyncio.open_connection(HOST, target)
        except OSError:
            cw.close()
            return
        for w in (cw, sw):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        counts.connections += 1
        await asyncio.gather(_pump(cr, _Line(sw, delay, timer), up), _pump(sr, _Line(cw, delay, timer), down))
        counts.connections -= 1

    async def ctl(r, w):
        while line := await r.readline():
            cmd = line.strip().decode()
            if cmd == "reset":
                counts.reset()
            w.write((json.dumps(counts.doc()) + "\n").encode())
            await w.drain()
        w.close()

    s1 = await asyncio.start_server(client, HOST, listen, backlog=512)
    s2 = await asyncio.start_server(ctl, HOST, control)
    print(f"delay proxy ({delay * 1000:g} ms each way) listening on {HOST}:{listen} -> {HOST}:{target}", flush=True)
    async with s1, s2:
        await asyncio.gather(s1.serve_forever(), s2.serve_forever())


def main(argv: list[str]) -> None:
    listen, target, control, delay_ms = int(argv[0]), int(argv[1]), int(argv[2]), float(argv[3])
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.setswitchinterval(1e-4)  # the timer thread gets the GIL at once when a delay ends
    asyncio.run(_serve(listen, target, control, delay_ms / 1000))


class DelayProxy:
    """The driver's handle: the process, its URL for the service, counts, and a measured round trip."""

    def __init__(self, proc: Proc, port: int, control: int, delay_ms: float):
        self.proc, self.port, self.control, self.delay_ms = proc, port, control, delay_ms
        self._conn: socket.socket | None = None

    def _ask(self, cmd: str) -> dict:
        if self._conn is None:
            self._conn = socket.create_connection((HOST, self.control), timeout=10)
            self._file = self._conn.makefile("rb")
        self._conn.sendall(cmd.encode() + b"\n")
        return json.loads(self._file.readline())

    def stats(self) -> dict:
        return self._ask("stats")

    def reset(self) -> None:
        self._ask("reset")

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def rtt_ms(self, pings: int = 200) -> dict:
        """PING through the proxy on one connection: p50 and p90 of the round trip, in ms."""
        import redis

        r = redis.Redis(host=HOST, port=self.port)
        r.ping()
        times = []
        for _ in range(pings):
            t0 = time.perf_counter()
            r.ping()
            times.append(1000 * (time.perf_counter() - t0))
        r.close()
        times.sort()
        return {"p50": times[len(times) // 2], "p90": times[int(len(times) * 0.9)]}


def start_proxy(procs: Processes, logdir: Path, target_port: int, delay_ms: float = DEFAULT_DELAY_MS) -> DelayProxy:
    port, control = free_port(), free_port()
    argv = [sys.executable, "-m", "benchmarks.harness.delay_proxy", str(port), str(target_port), str(control),
            repr(delay_ms)]
    proc = procs.start(Proc(f"delay-proxy-{delay_ms:g}ms", argv, dict(os.environ, PYTHONUNBUFFERED="1"), logdir))
    proc.wait_log("listening on", timeout=30)
    return DelayProxy(proc, port, control, delay_ms)


if __name__ == "__main__":
    main(sys.argv[1:])
