"""One breaking story to N partners at a fixed answer delay: 202 -> last push, against raw `requests`.

    python -m benchmarks.fanout_quick [--partners 200] [--delay 0.1] [--in-flight N] [--runs 3]

A quick, self-contained figure for the delivery engine (issue 23), not the WAN section: every
partner is a path on one asyncio HTTP server on 127.0.0.1 (its own process) that answers 200 after
`--delay` seconds, so the round trip is simulated by the receiver. The service runs as
`syndication up` runs it (cli/topology.py: api, events, feeds, deliveries workers) on its own
redis-server. The baseline, measured in the same run against the same server: a raw `requests`
thread pool (one Session per partner, as many threads as partners up to 256) POSTing one body to
every partner. Figures: seconds from the 202 to the last partner's arrival, and CPU seconds of the
service's processes per delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


# ---- the partner server (runs as its own process: `--serve PORT DELAY`) -------------------------

def serve(port: int, delay: float) -> None:
    arrivals: dict[str, float] = {}  # webhook-id or path -> first arrival (time.time())
    count = {"n": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                n = int(headers.get("content-length") or 0)
                if n:
                    await reader.readexactly(n)
                if method == "GET" and path == "/stats":
                    body = json.dumps({"count": count["n"], "last": max(arrivals.values(), default=0),
                                       "distinct": len(arrivals)}).encode()
                elif method == "POST" and path == "/reset":
                    arrivals.clear()
                    count["n"] = 0
                    body = b"{}"
                else:
                    now = time.time()
                    count["n"] += 1
                    arrivals.setdefault(headers.get("webhook-id") or headers.get("x-raw-id") or path, now)
                    await asyncio.sleep(delay)
                    body = b"{}"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, HOST, port, backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ---- the driver ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((HOST, port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def stats(port: int) -> dict:
    import requests

    return requests.get(f"http://{HOST}:{port}/stats", timeout=5).json()


def cpu_seconds(pids: list[int]) -> float:
    """utime+stime of the processes and their children still running (Celery prefork children too)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    seen = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            todo += [int(c) for c in children]
        except OSError:
            pass
    return total


def raw_baseline(port: int, n: int, body: bytes) -> float:
    """requests threads, one Session per partner: seconds to POST once to each partner."""
    import requests

    sessions = [requests.Session() for _ in range(n)]
    url = f"http://{HOST}:{port}/raw/"
    started = time.perf_counter()
    with ThreadPoolExecutor(min(n, 256)) as pool:
        list(pool.map(lambda i: sessions[i].post(url + str(i), data=body, timeout=10,
                                                 headers={"X-Raw-Id": f"raw-{uuid.uuid4().hex}"}).status_code,
                      range(n)))
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", nargs=2)
    ap.add_argument("--partners", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--in-flight", type=int, default=0)
    ap.add_argument("--processes", type=int, default=0)
    ap.add_argument("--bare", action="store_true", help="deliveries worker as `celery -A workers worker -Q deliveries`")
    args = ap.parse_args()
    if args.serve:
        serve(int(args.serve[0]), float(args.serve[1]))
        return
    sys.path.insert(0, str(ROOT))
    import requests

    from syndication.cli.topology import worker_specs
    from tests.support.events import article_event

    tmp = Path(tempfile.mkdtemp(prefix="fanout-"))
    procs: list[subprocess.Popen] = []

    def start(argv, name, env=None) -> subprocess.Popen:
        log = open(tmp / f"{name}.log", "w")
        p = subprocess.Popen(argv, cwd=ROOT, env=env or os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        procs.append(p)
        return p

    try:
        rport, pport, aport = free_port(), free_port(), free_port()
        start([shutil.which("redis-server"), "--port", str(rport), "--bind", HOST, "--save", "", "--appendonly",
               "no", "--dir", str(tmp)], "redis")
        start([sys.executable, __file__, "--serve", str(pport), str(args.delay)], "partners")
        wait_port(rport)
        wait_port(pport)
        import yaml

        partners = [{"id": f"p{i}", "url": f"http://{HOST}:{pport}/p/{i}", "format": "json",
                     "allow_private_network": True} for i in range(args.partners)]
        (tmp / "partners.yaml").write_text(yaml.safe_dump({"partners": partners}))
        (tmp / "feeds.yaml").write_text(yaml.safe_dump({"feeds": [{"name": "all", "title": "All"}]}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
        env.update(SYNDICATION_REDIS_URL=f"redis://{HOST}:{rport}/0", SYNDICATION_API_KEYS="bench",
                   SYNDICATION_PARTNERS_FILE=str(tmp / "partners.yaml"), SYNDICATION_FEEDS_FILE=str(tmp / "feeds.yaml"),
                   SYNDICATION_BASE_URL=f"http://{HOST}:{aport}", PYTHONUNBUFFERED="1")
        if args.in_flight:
            env["SYNDICATION_DELIVERY_IN_FLIGHT"] = str(args.in_flight)
        if args.processes:
            env["SYNDICATION_DELIVERY_PROCESSES"] = str(args.processes)
        service = [start([sys.executable, "-m", "syndication.cli", "api", "--host", HOST, "--port", str(aport)],
                         "api", env)]
        names = ["api"] + [spec.name for spec in worker_specs(env)]
        for spec in worker_specs(env):
            argv = ["-Q", spec.queue, "-n", f"{spec.name}@%h"] if args.bare else spec.args()
            service.append(start([sys.executable, "-m", "celery", "-A", "workers", "worker", *argv,
                                  "--without-gossip", "--without-mingle", "-l", "warning"], spec.name, env))
        wait_port(aport)
        time.sleep(3)  # workers: ready in ~1 s; the first sweep marks nothing
        body = json.dumps(article_event("warm")).encode()
        print(f"{args.partners} partners, answer after {args.delay * 1000:.0f} ms, workers: "
              f"{' | '.join(' '.join(s.args()) for s in worker_specs(env))}{' (bare)' if args.bare else ''}")
        results = []
        for run in range(args.runs + 1):  # run 0 warms connections and imports, not counted
            requests.post(f"http://{HOST}:{pport}/reset", timeout=5)
            raw = raw_baseline(pport, args.partners, body[:1024])
            requests.post(f"http://{HOST}:{pport}/reset", timeout=5)
            ev = article_event(f"story-{run}-{uuid.uuid4().hex[:6]}")
            cpu0 = cpu_seconds([p.pid for p in service])
            each0 = [cpu_seconds([p.pid]) for p in service]
            t0 = time.time()
            r = requests.post(f"http://{HOST}:{aport}/v1/events", data=json.dumps(ev), timeout=10,
                              headers={"Authorization": "Bearer bench", "Content-Type": "application/json"})
            assert r.status_code == 202, r.text
            t202 = time.time()
            while True:
                s = stats(pport)
                if s["distinct"] >= args.partners or time.time() - t202 > 120:
                    break
                time.sleep(0.02)
            took = s["last"] - t202
            time.sleep(0.5)
            cpu = cpu_seconds([p.pid for p in service]) - cpu0
            each = [cpu_seconds([p.pid]) - c for p, c in zip(service, each0)]
            if run:
                results.append((took, raw, cpu / max(1, s["distinct"])))
            print(f"  run {run}{' (warm-up)' if not run else ''}: service {took:.2f} s for {s['distinct']} "
                  f"partners ({s['count']} requests); raw requests {raw:.2f} s; ratio {took / raw:.1f}x; "
                  f"service CPU {cpu * 1000 / max(1, s['distinct']):.2f} ms/delivery (by process, s: "
                  f"{' '.join(f'{n}={c:.2f}' for n, c in zip(names, each))})")
        if results:
            med = sorted(results)[len(results) // 2]
            print(f"median: service {med[0]:.2f} s, raw {med[1]:.2f} s, ratio {med[0] / med[1]:.1f}x, "
                  f"CPU {med[2] * 1000:.2f} ms/delivery")
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        print(f"logs: {tmp}")


if __name__ == "__main__":
    main()
