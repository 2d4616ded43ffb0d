"""POSTing events to the API's /v1/events, as a newsroom would.

Owns: `Sender`, on keep-alive connections with the run's publisher key: `post_all` (as fast as
N connections can: a burst) and `post_paced` (one event every 1/rate seconds on a fixed
schedule, over one or a few connections: latency without queueing). Both keep (status, sent, answered) per event, in
the order of the bodies given, and fail the run unless every event got its 202.
"""

from __future__ import annotations

import http.client
import threading
import time

from benchmarks.harness import API_KEY, HOST, BenchError


class Sender:
    """POSTs event bodies to /v1/events on keep-alive connections; keeps (status, sent, answered) per event."""

    def __init__(self, port: int):
        self.port = port
        self.headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    def _conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(HOST, self.port, timeout=30)

    def post_all(self, bodies: list[bytes], threads: int) -> tuple[list[tuple], float]:
        """As fast as `threads` connections can; returns the results and the time of the first POST."""
        results: list[tuple | None] = [None] * len(bodies)
        nxt = iter(range(len(bodies)))
        lock = threading.Lock()
        failures: list[str] = []
        go = threading.Event()
        conns = [self._conn() for _ in range(threads)]
        for c in conns:
            c.connect()  # before the clock starts: the burst measures the API, not TCP set-up

        def run(conn):
            go.wait()
            while (i := self._next(nxt, lock)) is not None:
                conn = self._post(conn, i, bodies[i], results, failures)
            conn.close()

        ts = [threading.Thread(target=run, args=(c,), daemon=True) for c in conns]
        for t in ts:
            t.start()
        t_first = time.time()
        go.set()
        for t in ts:
            t.join()
        if failures:
            raise BenchError(f"{len(failures)} of {len(bodies)} POST /v1/events failed, e.g.: {failures[:3]}")
        return results, t_first

    @staticmethod
    def _next(nxt, lock: threading.Lock) -> int | None:
        with lock:
            return next(nxt, None)

    def _post(self, conn, i: int, body: bytes, results: list, failures: list[str]) -> http.client.HTTPConnection:
        """POST one event; record it; return the connection to go on with (a new one after an error)."""
        t0 = time.time()
        try:
            conn.request("POST", "/v1/events", body=body, headers=self.headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"event {i}: {exc!r}")
            conn.close()
            return self._conn()
        results[i] = (resp.status, t0, time.time())
        if resp.status != 202:
            failures.append(f"event {i}: {resp.status} {data[:200]!r}")
        return conn

    def post_paced(self, bodies: list[bytes], rate: float, connections: int = 1) -> list[tuple]:
        """One event every 1/rate seconds, on schedule (not after the previous answer): event i is sent at
        start + i/rate on connection i % `connections`, so a slow answer on one connection does not hold
        up the schedule (unless all are busy)."""
        out: list[tuple | None] = [None] * len(bodies)
        failures: list[str] = []
        start = time.time() + 0.2

        def run(k: int) -> None:
            conn = self._conn()
            try:
                for i in range(k, len(bodies), connections):
                    delay = start + i / rate - time.time()
                    if delay > 0:
                        time.sleep(delay)
                    t0 = time.time()
                    conn.request("POST", "/v1/events", body=bodies[i], headers=self.headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.status != 202:
                        failures.append(f"paced event {i}: {resp.status} {data[:200]!r}")
                        return
                    out[i] = (resp.status, t0, time.time())
            except (OSError, http.client.HTTPException) as exc:
                failures.append(f"paced events on connection {k}: {exc!r}")
            finally:
                conn.close()

        threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise BenchError(f"{len(failures)} paced POST /v1/events failed, e.g.: {failures[:3]}")
        return out
