"""What SYNDICATION_REDIS_MIN_REPLICAS=1 costs per accepted event: accept latency and throughput with
and without the WAIT, in the same run, on a Sentinel set (a primary, one replica, three sentinels).

    .venv/bin/python benchmarks/wait_cost.py [--events 300] [--rounds 3] [--clients 8]

Two API processes on the same Sentinel set, one with MIN_REPLICAS=0 and one with =1 (nothing else
differs); rounds alternate between them so both see the same machine. Each round posts `--events`
new events one at a time (latency: p50, p99) and then `--events` with `--clients` concurrent
clients (throughput). No workers: the accept path is what is measured (the apply batches queue up).
Prints one table and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.support.events import article_event  # noqa: E402
from tests.support.processes import api, free_port  # noqa: E402
from tests.support.sentinel import SentinelSet  # noqa: E402

API_KEY = "wait-cost-bench-key-0123456789"


def _post(session: requests.Session, base: str, body: str) -> float:
    started = time.perf_counter()
    r = session.post(f"{base}/v1/events", data=body, timeout=10,
                     headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    if r.status_code != 202:
        raise SystemExit(f"{base}: {r.status_code} {r.text}")
    return time.perf_counter() - started


def _events(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [json.dumps(article_event(f"wc-{tag}-{i}")) for i in range(n)]


def _latency(base: str, n: int) -> list[float]:
    with requests.Session() as s:
        return [_post(s, base, body) for body in _events(n)]


def _throughput(base: str, n: int, clients: int) -> float:
    bodies = _events(n)
    sessions = [requests.Session() for _ in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda ib: _post(sessions[ib[0] % clients], base, ib[1]), enumerate(bodies)))
    return n / (time.perf_counter() - started)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wait-cost-"))
    ha = SentinelSet(work / "redis").start()
    apis = {}
    try:
        for replicas in (0, 1):
            port = free_port()
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
                   "SYNDICATION_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                   "SYNDICATION_REDIS_SENTINELS": ha.sentinels_env, "SYNDICATION_REDIS_MIN_REPLICAS": str(replicas),
                   "SYNDICATION_KEY_PREFIX": f"wc{replicas}:", "SYNDICATION_API_KEYS": API_KEY,
                   "SYNDICATION_LOG_LEVEL": "WARNING", "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}"}
            apis[replicas] = (api(env, work, port).start(), f"http://127.0.0.1:{port}")
        for _, base in apis.values():
            _latency(base, 50)  # warm-up: connections, the throttle's clean list, script cache
        lat = {0: [], 1: []}
        rate = {0: [], 1: []}
        for _ in range(args.rounds):
            for replicas, (_, base) in apis.items():
                lat[replicas] += _latency(base, args.events)
                rate[replicas].append(_throughput(base, args.events, args.clients))
        rows = {}
        for replicas in (0, 1):
            ms = sorted(x * 1000 for x in lat[replicas])
            rows[replicas] = (statistics.median(ms), ms[int(len(ms) * 0.99) - 1], statistics.median(rate[replicas]))
        print(f"\naccept path on a Sentinel set (1 replica, loopback), {args.rounds} alternating rounds of "
              f"{args.events} events; {os.cpu_count()} CPUs")
        print("| MIN_REPLICAS | latency p50 | latency p99 | events/s with %d clients |" % args.clients)
        print("|---|---|---|---|")
        for replicas, (p50, p99, eps) in rows.items():
            print(f"| {replicas} | {p50:.2f} ms | {p99:.2f} ms | {eps:.0f} |")
        print(f"\nWAIT adds {rows[1][0] - rows[0][0]:.2f} ms per event at p50 (x{rows[1][0] / rows[0][0]:.2f}); "
              f"throughput x{rows[1][2] / rows[0][2]:.2f}")
    finally:
        for proc, _ in apis.values():
            proc.stop()
        ha.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
