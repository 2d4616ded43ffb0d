#!/usr/bin/env python
"""Partner push benchmark: end-to-end deliveries/s against a raw HTTP ceiling, and publish-to-push latency.

Run from the repository root (about 2-3 minutes; under 4 on a noisy 2-core box):

    .venv/bin/python benchmarks/push.py            # defaults: 1, 10 and 50 partners
    .venv/bin/python benchmarks/push.py --help     # event counts, latency rate, worker concurrency, ...

It needs `redis-server` on PATH (`apt-get install -y redis-server`). Like benchmarks/feeds.py it
starts its own throwaway `redis-server` on a free port (never 6379, no persistence unless
`--aof`), and the real service against it, as `syndication up` runs it:

    python -m syndication.cli api                                         (uvicorn)
    python -m celery -A workers worker -Q events     -P threads -c 4 -E
    python -m celery -A workers worker -Q feeds      -P threads -c 2 -E
    python -m celery -A workers worker -Q deliveries -P threads -c 8 -E
    python -m celery -A workers beat

(workers at log level `warning`, as `syndication up` and docker-compose run them), plus a *fast
partner*: a minimal HTTP/1.1 keep-alive server (asyncio, uvloop when installed) in its own
process that answers every POST with 200 at once and records the time and `webhook-id` of
each request. Everything listens on and talks to 127.0.0.1 only; every process it started is
stopped when it exits (also on Ctrl-C or an error).

It prints the machine, the exact command that reproduces the run, and four tables:

1. Ceiling: a plain `requests.Session` keep-alive POST loop, in one separate process, of the
   same ~4.5 kB JSON body (and headers) the service pushes, to the same fast partner server;
   measured before and after the end-to-end cases, their mean is the ceiling.
2. End to end, with 1, 10 and 50 partners (all `format: json`, no filters,
   `allow_private_network: true`, each pointing at the fast server under its own path): events
   (one new article each, ~3.4 kB HTML body) are POSTed to /v1/events as fast as 4 threads
   can; deliveries/s = events x partners / (first POST -> last push received), and that as a
   ratio of the ceiling (the project's goal: >= 0.70). Each case runs on a fresh service (new
   partners file, Redis flushed) after a small warm-up. Also: when the last POST was answered
   and the last event applied, push tasks run and deliveries per task (from Celery's task
   events), duplicates received, Redis commands per delivery (by command, INFO commandstats),
   and what limited the case.
3. Where the CPU went in each case: CPU (user+sys, from /proc/<pid>/stat) of every process over
   the case, as a share of one core, its peak 1-second share and CPU ms per delivery, and the
   whole machine's busy share (/proc/stat; "other" = CPU used by processes not started here).
   A Python process at ~100% of one core is saturated (the GIL); that, or all cores busy, is
   what limits a case.
4. Latency: with 1 partner, events POSTed one at a time at a fixed rate (20/s for 15 s by
   default): from the 202 of POST /v1/events to the partner receiving the push (p50/p90/p99/
   max, matched by `webhook-id`), split at the delivery record's creation (202 -> applied and
   fanned out; created -> received).

Usage examples:

    .venv/bin/python benchmarks/push.py --cases 10:300            # one case: 10 partners, 300 events
    .venv/bin/python benchmarks/push.py --deliveries-concurrency 16 --aof
    .venv/bin/python benchmarks/push.py --latency-seconds 0 --keep-logs   # no latency run; keep the logs

Ratios are what to compare across machines and commits; absolute numbers depend on the
machine and on what else it is doing (the load average at the start is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import http.client
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.feeds import (  # the process, Redis and article helpers of the feed benchmarks
    guarded,
    HOST,
    BenchError,
    Proc,
    Processes,
    article_body,
    cpu_seconds,
    free_port,
    http_ok,
    machine,
    make_article,
    require_redis_server,
)

API_KEY = "bench-publisher-key"
KEY_PREFIX = "benchpush:"
BODY_TARGET = 3400  # bytes of article HTML: the json push body is then ~4.5 kB
CATEGORY = "Economy"
EVENTS_POOL = ["-P", "threads", "-c", "4"]  # as `syndication up` runs the events worker
FEEDS_POOL = ["-P", "threads", "-c", "2"]  # as `syndication up` runs the feeds worker
DEFAULT_CASES = "1:2000,10:300,50:60"
SERVICE = ("api", "events", "feeds", "deliveries", "beat")


# =========================================================================== the fast partner (its own process)

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"


class _PartnerState:
    def __init__(self):
        self.reset()
        self.connections = 0

    def reset(self):
        self.total = 0
        self.nbytes = 0
        self.first = None
        self.last = None
        self.last_new = None
        self.ids: set[str] = set()
        self.paths: set[str] = set()
        self.log: list[tuple[float, str]] = []


def _control(state: _PartnerState, method: str, path: str) -> bytes:
    if path == "/_stats":
        doc = {"total": state.total, "unique": len(state.ids), "first": state.first, "last": state.last,
               "last_new": state.last_new, "bytes": state.nbytes, "paths": len(state.paths),
               "connections": state.connections}
    elif path == "/_log":
        doc = {"log": state.log}
    elif path == "/_reset":
        state.reset()
        doc = {"ok": True}
    else:
        body = b'{"error":"not found"}'
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    body = json.dumps(doc).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


class _PartnerProtocol(asyncio.Protocol):
    def __init__(self, state: _PartnerState):
        self.state = state
        self.buf = bytearray()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.state.connections += 1

    def data_received(self, data: bytes):
        buf = self.buf
        buf += data
        out = []
        close = False
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buf[:end]).split(b"\r\n")
            length, wid, conn = 0, "", b""
            for line in head[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"webhook-id":
                    wid = value.strip().decode()
                elif name == b"connection":
                    conn = value.strip().lower()
            total = end + 4 + length
            if len(buf) < total:
                break
            now = time.time()
            del buf[:total]
            method, path = (head[0].split(b" ") + [b"", b""])[:2]
            path = path.decode()
            if path.startswith("/_"):
                out.append(_control(self.state, method.decode(), path))
            else:
                st = self.state
                st.total += 1
                st.nbytes += length
                if st.first is None:
                    st.first = now
                st.last = now
                if wid and wid not in st.ids:
                    st.ids.add(wid)
                    st.last_new = now
                    st.log.append((now, wid))
                st.paths.add(path)
                out.append(_OK)
            close = close or conn == b"close"
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


# =========================================================================== the ceiling loop (its own process)


def ceiling_loop(port: int, body_file: str, seconds: float) -> None:
    """A plain requests.Session keep-alive POST loop; prints one JSON line of results."""
    import requests

    body = Path(body_file).read_bytes()
    url = f"http://{HOST}:{port}/ceiling"
    s = requests.Session()
    base = {"Content-Type": "application/json", "webhook-timestamp": str(int(time.time()))}
    for i in range(50):  # warm-up: connection, imports
        s.post(url, data=body, headers={**base, "webhook-id": f"warm_{i}"}, timeout=10).raise_for_status()
    n, errors = 0, 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        r = s.post(url, data=body, headers={**base, "webhook-id": f"ceil_{n}"}, timeout=10)
        errors += r.status_code != 200
        n += 1
    elapsed = time.perf_counter() - t0
    print(json.dumps({"requests": n, "elapsed": elapsed, "rps": n / elapsed, "errors": errors,
                      "client_cpu": time.process_time() - cpu0}), flush=True)


# =========================================================================== driver helpers


class Partner:
    """The driver's handle on the fast partner server: its process and control endpoints."""

    def __init__(self, proc: Proc, port: int):
        self.proc, self.port = proc, port
        self.conn: http.client.HTTPConnection | None = None

    def _get(self, path: str) -> dict:
        for attempt in range(2):
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

    def log(self) -> list[tuple[float, str]]:
        return [tuple(x) for x in self._get("/_log")["log"]]

    def reset(self) -> None:
        self._get("/_reset")

    def url(self, partner_id: str) -> str:
        return f"http://{HOST}:{self.port}/p/{partner_id}"


class CpuSampler:
    """Samples CPU seconds of named processes and of the whole machine every `interval` s."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.pids: dict[str, int] = {}
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()

    @staticmethod
    def machine_busy() -> float:
        """CPU seconds the whole machine spent busy (all cores) since boot, from /proc/stat."""
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def sample(self) -> None:
        with self.lock:
            pids = dict(self.pids)
        vals = {name: cpu_seconds(pid) for name, pid in pids.items()}
        vals["machine"] = self.machine_busy()
        with self.lock:
            self.samples.append((time.time(), vals))

    def start(self, pids: dict[str, int]) -> None:
        with self.lock:
            self.pids = dict(pids)
            self.samples = []
        self._stop.clear()
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self.sample()

    def _at(self, t: float, before: bool) -> tuple[float, dict]:
        with self.lock:
            samples = list(self.samples)
        if before:
            cands = [s for s in samples if s[0] <= t]
            return cands[-1] if cands else samples[0]
        cands = [s for s in samples if s[0] >= t]
        return cands[0] if cands else samples[-1]

    def window(self, start: float, end: float) -> tuple[float, dict[str, float]]:
        """(seconds, CPU seconds per name) between the samples enclosing [start, end]."""
        t0, a = self._at(start, before=True)
        t1, b = self._at(end, before=False)
        return t1 - t0, {k: b[k] - a[k] for k in b if k in a}

    def peak(self, name: str, start: float, end: float, span: float = 1.0) -> float:
        """Highest share of one core `name` used over any `span`-second stretch in [start, end]."""
        with self.lock:
            samples = [s for s in self.samples if start - self.interval <= s[0] <= end + self.interval]
        best = 0.0
        j = 0
        for i in range(len(samples)):
            while j < len(samples) and samples[j][0] - samples[i][0] < span:
                j += 1
            if j >= len(samples):
                break
            dt = samples[j][0] - samples[i][0]
            if dt > 0 and name in samples[i][1] and name in samples[j][1]:
                best = max(best, (samples[j][1][name] - samples[i][1][name]) / dt)
        return best


class TaskCounter:
    """Counts tasks finished per worker from Celery's task events (the workers run with -E).

    Subscribes to the `celeryev` fanout channels (workers batch their events on `task.multi`),
    keeps the task-succeeded events and tells the workers apart by hostname; a push_batch
    result also says how many deliveries it made.
    """

    def __init__(self, redis_url: str):
        import redis

        self.client = redis.Redis.from_url(redis_url)
        self.counts: dict[str, int] = {}
        self.delivered = 0
        self._pubsub = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        self.counts, self.delivered = {}, 0
        self._stop.clear()
        self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.psubscribe("*celeryev/task.*")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import base64
        import re

        while not self._stop.is_set():
            msg = self._pubsub.get_message(timeout=0.2)
            if not msg:
                continue
            try:
                outer = json.loads(msg["data"])
                body = outer["body"]
                if outer.get("properties", {}).get("body_encoding") == "base64":
                    body = base64.b64decode(body)
                ev = json.loads(body)
                events = ev if isinstance(ev, list) else [ev]  # event batches come as lists
            except (ValueError, KeyError, TypeError):
                continue
            for e in events:
                if not isinstance(e, dict) or e.get("type") != "task-succeeded":
                    continue
                worker = str(e.get("hostname", "?")).split("-", 1)[0]
                self.counts[worker] = self.counts.get(worker, 0) + 1
                if worker == "deliveries":
                    m = re.search(r"'delivered': (\d+)", str(e.get("result", "")))
                    self.delivered += int(m.group(1)) if m else 0

    def stop(self) -> dict[str, int]:
        time.sleep(0.5)  # the last events are on their way
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self._pubsub:
            self._pubsub.close()
        return dict(self.counts)


def start_redis(procs: Processes, logdir: Path, aof: bool) -> tuple[str, int, Proc]:
    binary = require_redis_server()
    persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if aof else ["--appendonly", "no"]
    for _ in range(5):
        port = free_port()
        if port == 6379:
            continue
        argv = [binary, "--port", str(port), "--bind", HOST, "--save", "", *persistence, "--dir", str(logdir),
                "--protected-mode", "yes", "--daemonize", "no"]
        proc = procs.start(Proc("redis", argv, dict(os.environ), logdir))
        try:
            proc.wait_log("Ready to accept connections", timeout=15)
            return f"redis://{HOST}:{port}/0", port, proc
        except BenchError:
            if proc.p.poll() is None:
                raise
            continue  # lost the port race; try another
    raise BenchError("could not start redis-server on a free port")


def service_env(redis_url: str, api_port: int, partners_file: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
    env.update({
        "SYNDICATION_REDIS_URL": redis_url,
        "SYNDICATION_KEY_PREFIX": KEY_PREFIX,
        "SYNDICATION_API_KEYS": API_KEY,
        "SYNDICATION_PARTNERS_FILE": str(partners_file),
        "SYNDICATION_BASE_URL": f"http://{HOST}:{api_port}",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def partner_ids(n: int) -> list[str]:
    return [f"p{i:03d}" for i in range(n)]


def write_partners_file(path: Path, n: int, partner: Partner) -> None:
    import yaml

    entries = [{"id": pid, "url": partner.url(pid), "format": "json", "allow_private_network": True}
               for pid in partner_ids(n)]
    path.write_text(yaml.safe_dump({"partners": entries}, sort_keys=False))


def service_procs(env: dict, api_port: int, logdir: Path, tag: str, args) -> dict[str, Proc]:
    py = sys.executable
    common = ["--without-gossip", "--without-mingle", "-E", "-l", args.loglevel]

    def worker(queue: str, pool: list[str]) -> Proc:
        return Proc(f"{tag}-worker-{queue}", [py, "-m", "celery", "-A", "workers", "worker", "-Q", queue, *pool,
                                              "-n", f"{queue}-pushbench@%h", *common], env, logdir)

    return {
        "api": Proc(f"{tag}-api", [py, "-m", "syndication.cli", "api", "--host", HOST, "--port", str(api_port)],
                    env, logdir),
        "events": worker("events", EVENTS_POOL),
        "feeds": worker("feeds", FEEDS_POOL),
        "deliveries": worker("deliveries", ["-P", "threads", "-c", str(args.deliveries_concurrency)]),
        "beat": Proc(f"{tag}-beat", [py, "-m", "celery", "-A", "workers", "beat", "-l", args.loglevel,
                                     "-s", str(logdir / f"{tag}-beat-schedule")], env, logdir),
    }


def make_event(run: str, i: int, published: datetime) -> tuple[str, bytes]:
    art = make_article(i, CATEGORY, published)
    art["id"] = f"{run}-{i:05d}"
    art["url"] = f"https://news.example/en/economy/{art['id']}"
    art["body_html"] = article_body(i, target=BODY_TARGET)
    ev = {"event_id": f"evt-{art['id']}-v1", "type": "article.published", "occurred_at": art["published_at"],
          "article": art}
    return art["id"], json.dumps(ev, ensure_ascii=False).encode()


def push_body_like_the_service(event_body: bytes) -> bytes:
    """The json-format push body the deliveries worker sends for this event (for the ceiling loop)."""
    from syndication.delivery.records import delivery_id
    from syndication.partners.formats import FORMATS, Push
    from syndication.text import clean_article

    ev = json.loads(event_body)
    art = ev["article"]
    push = Push(delivery_id=delivery_id(art["id"], 1, "p000"), event_id=ev["event_id"], event_type=ev["type"],
                article_id=art["id"], version=1, article=clean_article(art), withdrawn=False)
    return FORMATS["json"].render(push, base_url="http://127.0.0.1")


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
            c.connect()

        def run(conn):
            go.wait()
            while True:
                with lock:
                    i = next(nxt, None)
                if i is None:
                    break
                t0 = time.time()
                try:
                    conn.request("POST", "/v1/events", body=bodies[i], headers=self.headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except (OSError, http.client.HTTPException) as exc:
                    failures.append(f"event {i}: {exc!r}")
                    conn.close()
                    conn = self._conn()
                    continue
                results[i] = (resp.status, t0, time.time())
                if resp.status != 202:
                    failures.append(f"event {i}: {resp.status} {data[:200]!r}")
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

    def post_paced(self, bodies: list[bytes], rate: float) -> list[tuple]:
        """One connection, one event every 1/rate seconds (on schedule, not after the previous answer)."""
        conn = self._conn()
        out = []
        start = time.time() + 0.2
        for i, body in enumerate(bodies):
            delay = start + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            t0 = time.time()
            conn.request("POST", "/v1/events", body=body, headers=self.headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 202:
                raise BenchError(f"paced event {i}: {resp.status} {data[:200]!r}")
            out.append((resp.status, t0, time.time()))
        conn.close()
        return out


def redis_commands(r) -> int:
    return int(r.info("stats")["total_commands_processed"])


def command_stats(r) -> dict[str, int]:
    """Calls per Redis command so far (INFO commandstats; commands run inside Lua scripts count too)."""
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in r.info("commandstats").items()}


def quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


# =========================================================================== the cases


class Service:
    """One fresh service (API, 3 workers, beat) for one partners file; stopped on exit."""

    def __init__(self, procs: Processes, redis_url: str, partner: Partner, n_partners: int, logdir: Path, args):
        self.procs_all, self.partner, self.n, self.args = procs, partner, n_partners, args
        self.tag = f"p{n_partners}"
        self.api_port = free_port()
        partners_file = logdir / f"partners-{n_partners}.yaml"
        write_partners_file(partners_file, n_partners, partner)
        self.env = service_env(redis_url, self.api_port, partners_file)
        self.procs = service_procs(self.env, self.api_port, logdir, self.tag, args)
        from syndication.context import Context
        from syndication.settings import Settings

        self.ctx = Context.build(Settings.from_env(self.env))

    def __enter__(self) -> Service:
        self.ctx.redis.flushdb()
        for p in self.procs.values():
            self.procs_all.start(p)
        api = self.procs["api"]
        api.wait_for(lambda: http_ok(self.api_port, "/healthz"), 60, "the API to answer /healthz")
        return self

    def __exit__(self, *exc) -> None:
        for p in reversed(list(self.procs.values())):
            p.stop()
        with self.procs_all._lock:
            self.procs_all.procs = [p for p in self.procs_all.procs if p not in self.procs.values()]

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.p.pid for name, p in self.procs.items()}

    def alive(self) -> None:
        for p in self.procs.values():
            p.alive()

    def busy(self) -> dict:
        r, k = self.ctx.redis, self.ctx.keys
        pipe = r.pipeline(transaction=False)
        pipe.zcard(k.events_pending)
        for pid in partner_ids(self.n):
            pipe.zcard(k.partner_due(pid))
            pipe.zcard(k.partner_inflight(pid))
        vals = pipe.execute()
        return {"events_pending": vals[0], "due": sum(vals[1::2]), "inflight": sum(vals[2::2])}

    def wait_received(self, want: int, timeout: float, what: str) -> dict:
        deadline = time.time() + timeout
        while True:
            st = self.partner.stats()
            if st["unique"] >= want:
                return st
            if time.time() > deadline:
                raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}: the partner has "
                                 f"{st['unique']} of {want} deliveries; service: {self.busy()}; "
                                 f"last lines of the deliveries worker log:\n{self.procs['deliveries'].tail(10)}")
            self.alive()
            self.partner.proc.alive()
            time.sleep(0.02)

    def warm_up(self, run: str, n_events: int) -> None:
        """A few events through the whole path; also proves every process is up (feeds worker, beat)."""
        base = datetime.now(UTC) - timedelta(hours=1)
        bodies = [make_event(f"{run}w", i, base + timedelta(seconds=i))[1] for i in range(n_events)]
        self.partner.reset()
        Sender(self.api_port).post_all(bodies, threads=2)
        self.wait_received(n_events * self.n, 90, "the warm-up pushes")
        r, k = self.ctx.redis, self.ctx.keys
        deadline = time.time() + 60
        while not (float(r.hget(f"{k.prefix}metrics:sweeps", "outcome=ran") or 0) > 0
                   and r.exists(k.feed_rendered("all", "json"))):
            if time.time() > deadline:
                raise BenchError("timed out waiting for beat's first sweep and the feeds worker's first render; "
                                 f"beat log:\n{self.procs['beat'].tail(10)}")
            self.alive()
            time.sleep(0.1)
        self.wait_quiet()
        self.partner.reset()

    def wait_quiet(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while any(self.busy().values()) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # a render in its window, the last acks


def run_case(svc: Service, sampler: CpuSampler, tasks: TaskCounter, events: int, args, redis_pid: int,
             partner_pid: int) -> dict:
    run = f"b{uuid.uuid4().hex[:6]}"
    base = datetime.now(UTC) - timedelta(minutes=30)
    bodies = [make_event(run, i, base + timedelta(milliseconds=i))[1] for i in range(events)]
    want = events * svc.n
    r = svc.ctx.redis
    pids = {**svc.pids, "redis": redis_pid, "partner": partner_pid, "driver": os.getpid()}
    cmds0, stats0 = redis_commands(r), command_stats(r)
    tasks.start()
    sampler.start(pids)
    results, t_first = Sender(svc.api_port).post_all(bodies, threads=args.senders)
    t_posted = max(x[2] for x in results)
    t_applied = None
    deadline = time.time() + args.case_timeout
    while True:
        if t_applied is None and r.zcard(svc.ctx.keys.events_pending) == 0:
            t_applied = time.time()
        st = svc.partner.stats()
        if st["unique"] >= want and t_applied is not None:
            break
        if time.time() > deadline:
            sampler.stop()
            raise BenchError(f"{svc.n} partners: timed out after {args.case_timeout:.0f}s: the partner has "
                             f"{st['unique']} of {want} deliveries; service: {svc.busy()}")
        svc.alive()
        time.sleep(0.01)
    t_last = st["last_new"]
    sampler.stop()
    cmds = redis_commands(r) - cmds0
    by_command = {k: v - stats0.get(k, 0) for k, v in command_stats(r).items()}
    task_counts = tasks.stop()
    elapsed = t_last - t_first
    secs, cpu = sampler.window(t_first, t_last)
    # The drain: after the last event was applied, only pushes are left.
    drain_secs, drain_cpu = sampler.window(t_applied, t_last) if t_last - t_applied > 1.0 else (0.0, {})
    svc.wait_quiet()
    return {
        "partners": svc.n, "events": events, "deliveries": want, "elapsed": elapsed, "rate": want / elapsed,
        "posted_s": t_posted - t_first, "accept_rps": events / (t_posted - t_first),
        "applied_s": t_applied - t_first, "last_s": elapsed, "received": st["total"], "unique": st["unique"],
        "dupes": st["total"] - st["unique"], "bytes_per_push": st["bytes"] / max(st["total"], 1),
        "connections": st["connections"], "paths": st["paths"],
        "redis_cmds_per_delivery": cmds / want, "cpu_secs": secs, "cpu": cpu,
        "peak": {name: sampler.peak(name, t_first, t_last) for name in pids},
        "drain_secs": drain_secs, "drain_cpu": drain_cpu, "tasks": task_counts, "task_delivered": tasks.delivered,
        "by_command": by_command,
    }


def run_latency(svc: Service, rate: float, seconds: float) -> dict:
    from syndication.delivery import records

    run = f"l{uuid.uuid4().hex[:6]}"
    n = max(1, int(rate * seconds))
    base = datetime.now(UTC) - timedelta(minutes=10)
    events = [make_event(run, i, base + timedelta(milliseconds=i)) for i in range(n)]
    pid = partner_ids(svc.n)[0]
    svc.partner.reset()
    sent = Sender(svc.api_port).post_paced([b for _, b in events], rate)
    svc.wait_received(n * svc.n, 60, "the latency pushes")
    got: dict[str, float] = {}
    for t, wid in svc.partner.log():
        got.setdefault(wid, t)
    total, to_created, to_received, post = [], [], [], []
    for (aid, _), (_, _, t202) in zip(events, sent):
        did = records.delivery_id(aid, 1, pid)
        rec = records.get(svc.ctx, did)
        t_recv = got[did]
        total.append(t_recv - t202)
        if rec:
            to_created.append(rec["created_at"] - t202)
            to_received.append(t_recv - rec["created_at"])
    post = [s[2] - s[1] for s in sent]
    span = sent[-1][1] - sent[0][1]

    def q(xs):
        return {"p50": quantile(xs, 0.5), "p90": quantile(xs, 0.9), "p99": quantile(xs, 0.99), "max": max(xs)}

    return {"events": n, "rate": rate, "achieved_rate": (n - 1) / span if span > 0 else float("nan"),
            "total": q(total), "to_created": q(to_created), "to_received": q(to_received), "post": q(post)}


def run_ceiling(partner: Partner, body_file: Path, seconds: float) -> dict:
    argv = [sys.executable, str(Path(__file__).resolve()), "_ceiling", str(partner.port), str(body_file),
            repr(seconds)]
    partner.reset()
    cpu0 = cpu_seconds(partner.proc.p.pid)
    t0 = time.time()
    p = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=seconds + 60, cwd=ROOT, start_new_session=True)
    wall = time.time() - t0
    if p.returncode != 0:
        raise BenchError(f"the ceiling loop failed ({p.returncode}):\n{p.stderr[-2000:]}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    st = partner.stats()
    res["server_received"] = st["total"]
    res["server_cpu_pct"] = 100 * (cpu_seconds(partner.proc.p.pid) - cpu0) / wall  # incl. warm-up and start-up
    res["client_cpu_pct"] = 100 * res["client_cpu"] / res["elapsed"]
    return res


# =========================================================================== report


COLUMNS = ("api", "events", "deliveries", "feeds", "beat", "redis", "partner", "driver")


def reproduce_command(args) -> str:
    py = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    opts = ["--cases", args.cases, "--senders", str(args.senders), "--ceiling-seconds", f"{args.ceiling_seconds:g}",
            "--latency-rate", f"{args.latency_rate:g}", "--latency-seconds", f"{args.latency_seconds:g}",
            "--warmup", str(args.warmup), "--deliveries-concurrency", str(args.deliveries_concurrency),
            "--loglevel", args.loglevel]
    if args.aof:
        opts.append("--aof")
    return f"cd {shlex.quote(str(ROOT))} && {shlex.join([py, 'benchmarks/push.py', *opts])}"


def limit_of(c: dict, nproc: int) -> str:
    """What limited a case: a saturated Python process (the GIL), else all cores busy, else neither."""
    secs, cpu = c["cpu_secs"], c["cpu"]
    share = {name: cpu.get(name, 0.0) / secs for name in ("api", "events", "deliveries", "feeds", "beat", "driver")}
    name, top = max(share.items(), key=lambda kv: kv[1])
    machine = cpu["machine"] / secs
    other = max(0.0, cpu["machine"] - sum(cpu.get(n, 0.0) for n in COLUMNS)) / secs
    if top >= 0.85:
        verdict = f"the {name} process's CPU ({100 * top:.0f}% of a core: GIL-bound)"
    elif machine >= 0.85 * nproc:
        verdict = f"all cores busy ({100 * machine:.0f}% of {100 * nproc}%)"
    else:
        verdict = f"no CPU saturated (busiest: {name} {100 * top:.0f}%)"
    if other >= 0.2:
        verdict += f"; other processes used {100 * other:.0f}% of a core: rerun on a quiet machine"
    return verdict


def report(console, m, args, commands, ceilings, cases, latency, body_bytes, flavour, started) -> None:
    from rich.table import Table

    nproc = int(m["nproc"])
    ceiling = statistics.mean(c["rps"] for c in ceilings)
    console.print(f"[bold]syndication push benchmark[/bold]  {datetime.now().astimezone():%Y-%m-%d %H:%M:%S %Z}")
    console.print(f"machine: nproc={m['nproc']}  cpu={m['cpu']}  {m['impl']} {m['python']}  {m['os']}  "
                  f"redis-server {m['redis']} ({'AOF everysec' if args.aof else 'no persistence'})  "
                  f"load avg at start {m['load']}", soft_wrap=True, markup=False)
    console.print(f"reproduce: {reproduce_command(args)}", soft_wrap=True, markup=False)
    console.print("service: " + "  |  ".join(commands), soft_wrap=True, markup=False)

    t = Table(title="1. Ceiling: a plain requests.Session keep-alive POST loop (1 process) -> the fast partner",
              title_justify="left", caption_justify="left")
    for col in ("when", "POST/s", "requests", "seconds", "client core", "client ms/POST", "server core", "bad"):
        t.add_column(col, justify="left" if col == "when" else "right")
    for label, c in zip(("before the cases", "after the cases"), ceilings):
        bad = c["errors"] + abs(c["requests"] + 50 - c["server_received"])
        t.add_row(label, f"{c['rps']:,.0f}", f"{c['requests']:,}", f"{c['elapsed']:.1f}",
                  f"{c['client_cpu_pct']:.0f}%", f"{1000 * c['client_cpu'] / c['requests']:.2f}",
                  f"{c['server_cpu_pct']:.0f}%", str(bad))
    t.add_row("ceiling (mean)", f"{ceiling:,.0f}", "", "", "", "", "", "", style="bold")
    t.caption = (f"body: the service's json push body of one benchmark article, {body_bytes:,} B, with the service's "
                 f"headers; partner server: asyncio ({flavour}), its own process. client/server core = share of one "
                 "core used by the loop / the server (server: incl. warm-up); bad = errors + requests the server "
                 "did not count")
    console.print(t)

    t = Table(title="2. End to end: POST /v1/events -> API -> events worker -> deliveries worker -> fast partner",
              title_justify="left", caption_justify="left")
    for col in ("partners", "events", "deliveries", "seconds", "deliveries/s", "× ceiling", "last 202", "202/s",
                "all applied", "last push", "push tasks", "per task", "dupes", "redis cmds"):
        t.add_column(col, justify="right", no_wrap=col in ("deliveries/s", "× ceiling"))
    for c in cases:
        push_tasks = c["tasks"].get("deliveries", 0)
        t.add_row(str(c["partners"]), f"{c['events']:,}", f"{c['deliveries']:,}", f"{c['elapsed']:.1f}",
                  f"{c['rate']:,.0f}", f"{c['rate'] / ceiling:.2f}", f"{c['posted_s']:.1f} s",
                  f"{c['accept_rps']:,.0f}", f"{c['applied_s']:.1f} s", f"{c['last_s']:.1f} s",
                  f"{push_tasks:,}", f"{c['task_delivered'] / push_tasks:.1f}" if push_tasks else "?",
                  str(c["dupes"]), f"{c['redis_cmds_per_delivery']:.0f}")
    t.caption = (f"deliveries/s = events × partners / (first POST -> last push received); × ceiling = that / "
                 f"{ceiling:,.0f} POST/s (the project's goal: ≥ 0.70). Events POSTed by {args.senders} threads as "
                 "fast as the API answers (202/s: their rate); times from the first POST. push tasks = push_batch tasks run (Celery task "
                 "events), per task = deliveries each sent on average; dupes = requests repeating a webhook-id; "
                 "redis cmds = commands Redis executed per delivery (INFO stats, incl. inside Lua scripts, "
                 "Celery's own)")
    console.print(t)
    for c in cases:
        top = sorted(c["by_command"].items(), key=lambda kv: -kv[1])[:8]
        console.print(f"   {c['partners']:>2} partner(s): limited by {limit_of(c, nproc)}; Redis commands per "
                      "delivery: " + ", ".join(f"{k} {v / c['deliveries']:.1f}" for k, v in top if v > 0),
                      soft_wrap=True, markup=False)

    t = Table(title="3. CPU by process over each case (first POST -> last push received)", title_justify="left",
              caption_justify="left")
    t.add_column("partners", justify="right")
    t.add_column("", justify="left")
    for col in COLUMNS:
        t.add_column(col, justify="right")
    t.add_column("all listed", justify="right")
    t.add_column("machine", justify="right")
    t.add_column("other", justify="right")
    for i, c in enumerate(cases):
        secs, cpu = c["cpu_secs"], c["cpu"]
        ours = sum(cpu.get(name, 0.0) for name in COLUMNS)
        t.add_row(str(c["partners"]), "core", *(f"{100 * cpu.get(n, 0.0) / secs:.0f}%" for n in COLUMNS),
                  f"{100 * ours / secs:.0f}%", f"{100 * cpu['machine'] / secs:.0f}%",
                  f"{100 * max(0.0, cpu['machine'] - ours) / secs:.0f}%", style="bold")
        t.add_row("", "peak 1 s", *(f"{100 * c['peak'].get(n, 0.0):.0f}%" for n in COLUMNS), "", "", "")
        t.add_row("", "ms/delivery", *(f"{1000 * cpu.get(n, 0.0) / c['deliveries']:.2f}" for n in COLUMNS),
                  f"{1000 * ours / c['deliveries']:.2f}", "", "")
        if c["drain_secs"]:
            d, dc = c["drain_secs"], c["drain_cpu"]
            dours = sum(dc.get(n, 0.0) for n in COLUMNS)
            t.add_row("", f"drain {d:.0f} s", *(f"{100 * dc.get(n, 0.0) / d:.0f}%" for n in COLUMNS),
                      f"{100 * dours / d:.0f}%", f"{100 * dc['machine'] / d:.0f}%",
                      f"{100 * max(0.0, dc['machine'] - dours) / d:.0f}%")
        if i < len(cases) - 1:
            t.add_section()
    t.caption = (f"core = CPU time (user+sys, all threads, /proc/<pid>/stat) / wall time: 100% = one core busy; "
                 f"peak 1 s = highest share over any second; ms/delivery = CPU ms per delivery; drain = from the "
                 f"last event applied to the last push (only pushes left; shown when over 1 s). machine = all "
                 f"{nproc} cores' busy time (/proc/stat, max {100 * nproc}%); other = machine minus the processes "
                 "listed (anything else running, kernel). A Python process cannot go much past 100% (the GIL): at "
                 "~100% it is the bottleneck; the ceiling loop needs "
                 f"{1000 * statistics.mean(x['client_cpu'] / x['requests'] for x in ceilings):.2f} ms per POST")
    console.print(t)

    if latency:
        t = Table(title=f"4. Publish-to-push latency: 1 partner, {latency['events']} events at {latency['rate']:g}/s "
                        f"(achieved {latency['achieved_rate']:.1f}/s), one at a time", title_justify="left",
                  caption_justify="left")
        for col in ("interval", "p50 ms", "p90 ms", "p99 ms", "max ms"):
            t.add_column(col, justify="left" if col == "interval" else "right")
        for label, key in (("202 -> push received", "total"), ("  202 -> delivery created (applied)", "to_created"),
                           ("  delivery created -> push received", "to_received"),
                           ("POST /v1/events round trip", "post")):
            qs = latency[key]
            t.add_row(label, *(f"{1000 * qs[k]:.1f}" for k in ("p50", "p90", "p99", "max")),
                      style="bold" if key == "total" else None)
        t.caption = ("202 = the driver has read the API's answer; received = the partner server has parsed the "
                     "request; created = created_at of the delivery record (written by the events worker's fan-out)")
        console.print(t)
    console.print(f"total run time {time.time() - started:.0f} s")


# =========================================================================== main


def parse_cases(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        n, _, e = part.partition(":")
        out.append((int(n), int(e)))
    if not out or any(n < 1 or e < 1 for n, e in out):
        raise ValueError(text)
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=DEFAULT_CASES,
                   help=f"PARTNERS:EVENTS,... end-to-end cases (default {DEFAULT_CASES})")
    p.add_argument("--senders", type=int, default=4, help="threads POSTing events (default 4)")
    p.add_argument("--ceiling-seconds", type=float, default=4.0,
                   help="seconds of each of the two ceiling loops (default 4)")
    p.add_argument("--latency-rate", type=float, default=20.0, help="events/s of the latency run (default 20)")
    p.add_argument("--latency-seconds", type=float, default=15.0,
                   help="seconds of the latency run, 0 to skip it (default 15)")
    p.add_argument("--warmup", type=int, default=10, help="warm-up events per case (default 10)")
    p.add_argument("--deliveries-concurrency", type=int, default=8,
                   help="threads of the deliveries worker (default 8, as the service runs it)")
    p.add_argument("--loglevel", default="warning",
                   help="Celery workers' log level (default warning, as `syndication up` runs them)")
    p.add_argument("--aof", action="store_true", help="run Redis with AOF everysec (production), not without persistence")
    p.add_argument("--case-timeout", type=float, default=150.0,
                   help="seconds a case may take after its last POST (default 150)")
    p.add_argument("--keep-logs", action="store_true", help="keep the process logs (printed path)")
    args = p.parse_args(argv)
    try:
        args.case_list = parse_cases(args.cases)
    except ValueError:
        p.error(f"--cases: expected PARTNERS:EVENTS[,PARTNERS:EVENTS...], got {args.cases!r}")
    if args.senders < 1 or args.ceiling_seconds <= 0 or args.latency_rate <= 0 or args.warmup < 1:
        p.error("--senders, --ceiling-seconds, --latency-rate and --warmup must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        require_redis_server()
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 160)
    started = time.time()
    m = machine("python")
    procs = Processes()
    atexit.register(procs.stop_all)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    logdir = Path(tempfile.mkdtemp(prefix="syndication-pushbench-"))
    def body() -> int:
        redis_url, _, redis = start_redis(procs, logdir, args.aof)
        pport = free_port()
        pproc = procs.start(Proc("partner", [sys.executable, str(Path(__file__).resolve()), "_partner-server",
                                             str(pport)], dict(os.environ, PYTHONUNBUFFERED="1"), logdir))
        pproc.wait_log("listening on", timeout=30)
        flavour = "uvloop" if "(uvloop)" in pproc.log.read_text() else "asyncio"
        partner = Partner(pproc, pport)

        sample_body = push_body_like_the_service(make_event("ceil", 0, datetime.now(UTC))[1])
        body_file = logdir / "push-body.json"
        body_file.write_bytes(sample_body)

        console.print(f"[dim]ceiling ({args.ceiling_seconds:g} s) …[/dim]")
        ceilings = [run_ceiling(partner, body_file, args.ceiling_seconds)]

        sampler = CpuSampler()
        tasks = TaskCounter(redis_url)
        cases, latency, commands = [], None, []
        for n_partners, n_events in args.case_list:
            console.print(f"[dim]{n_partners} partner(s), {n_events} events …[/dim]")
            with Service(procs, redis_url, partner, n_partners, logdir, args) as svc:
                svc.warm_up(f"w{n_partners}", args.warmup)
                cases.append(run_case(svc, sampler, tasks, n_events, args, redis.p.pid, pproc.p.pid))
                if n_partners == 1 and args.latency_seconds > 0 and latency is None:
                    console.print(f"[dim]latency ({args.latency_rate:g}/s for {args.latency_seconds:g} s) …[/dim]")
                    latency = run_latency(svc, args.latency_rate, args.latency_seconds)
                if not commands:
                    commands = [shlex.join(["python", *p.argv[1:]]) for p in svc.procs.values()]
        if args.latency_seconds > 0 and latency is None:
            console.print(f"[dim]latency ({args.latency_rate:g}/s for {args.latency_seconds:g} s) …[/dim]")
            with Service(procs, redis_url, partner, 1, logdir, args) as svc:
                svc.warm_up("wl", args.warmup)
                latency = run_latency(svc, args.latency_rate, args.latency_seconds)

        console.print(f"[dim]ceiling again ({args.ceiling_seconds:g} s) …[/dim]")
        ceilings.append(run_ceiling(partner, body_file, args.ceiling_seconds))
        report(console, m, args, commands, ceilings, cases, latency, len(sample_body), flavour, started)
        return 0

    return guarded(body, procs, logdir, args.keep_logs)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_partner-server":  # internal: the fast partner process
        serve_partner(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_ceiling":  # internal: the ceiling loop process
        ceiling_loop(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit(main())
