#!/usr/bin/env python
"""Our own WebSub hub (issue 27): one feed change to many subscribers far away, against plain threads.

Run from the repository root (as root for the network namespace; else 127.0.0.1, said so):

    .venv/bin/python benchmarks/websub.py            # 200 subscribers, 3 changes per case (~1-2 minutes)
    .venv/bin/python benchmarks/websub.py --quick    # 30 subscribers, 1 change per case (~30 s)

Subscribers are served by one asyncio process (benchmarks/harness/wan_partner.py), each on a port
of its own, 100 ms away (the round trip added in user space: no netem here); they answer the
verification GET by echoing hub.challenge. The service runs as `syndication up` starts it (its
worker specs), our own hub, private callbacks allowed (the subscribers are on a private address).

Cases, measured in one run:

    hub        a story is published to the feed; time from the POST /v1/events to each subscriber
               having the new feed (its `has` time at the receiver), p50 / p95 / last; this includes
               applying the event and rendering the feed (printed apart: the baseline starts with
               the bytes in hand)
    baseline   the same bytes (the stored feed) POSTed to the same subscribers by plain Python
               threads, one per subscriber, on connections already used once (as the hub's are
               after a first change): the same-run floor
    hung       the hub again with 10 % more subscribers that verify and then never answer a POST
               (read timeout): the healthy subscribers' p95 must not move

Printed: each case's p50, p95 and last receipt, the ratios hub/baseline and hung/hub. A full run
(not --quick, default sizes) writes docs/benchmarks/websub.json.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import API_KEY, HOST, BenchError, processes, report  # noqa: E402
from benchmarks.harness.articles import event_body, make_article  # noqa: E402
from benchmarks.harness.netns import PartnerNet  # noqa: E402
from benchmarks.harness.wan_partner import start_wan_partners  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks" / "websub.json"
CATEGORY = "Hubbench"
FULL = {"subscribers": 200, "hung": 20, "changes": 3, "rtt_ms": 100}
QUICK = {"subscribers": 30, "hung": 3, "changes": 1, "rtt_ms": 100}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help=f"small sizes: {QUICK}")
    p.add_argument("--subscribers", type=int, help="healthy subscribers (default 200; quick 30)")
    p.add_argument("--no-namespace", action="store_true", help="subscribers on 127.0.0.1 (no network namespace)")
    p.add_argument("--json", metavar="PATH", help="write the figures as JSON (full run: docs/benchmarks/websub.json)")
    p.add_argument("--keep-logs", action="store_true")
    args = p.parse_args(argv)
    args.size = dict(QUICK if args.quick else FULL)
    if args.subscribers:
        args.size["subscribers"], args.size["hung"] = args.subscribers, max(1, args.subscribers // 10)
    args.docs = not args.quick and not args.subscribers
    return args


def feed_key(body: bytes) -> str:
    """How the receiver logs a feed version (harness/wan_partner.py: a POST that is not an event)."""
    return "feed:" + hashlib.blake2b(body, digest_size=6).hexdigest()


def _post(port: int, path: str, body: bytes, headers: dict) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


class Bench:
    def __init__(self, args, procs, logdir, out):
        self.args, self.procs, self.logdir, self.out = args, procs, logdir, out
        self.size = args.size
        self.rendered_ms: list[float] = []  # publish -> the new feed stored, per change

    def start(self, wp) -> None:
        self.wp = wp
        n, hung = self.size["subscribers"], self.size["hung"]
        self.healthy = [f"s{i:04d}" for i in range(n)]
        self.hung = [f"h{i:04d}" for i in range(hung)]
        wp.setup([(s, "ok") for s in self.healthy] + [(h, "hang") for h in self.hung],
                 {"ok": {"rtt_ms": self.size["rtt_ms"]}, "hang": {"rtt_ms": self.size["rtt_ms"], "hang_posts": True}},
                 tls=False)
        redis_url, _ = processes.start_redis(self.procs, self.logdir, aof=True)
        self.port = processes.free_port()
        feeds = self.logdir / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - name: bench\n    title: Hub bench\n    filters: {{categories: [{CATEGORY}]}}\n")
        partners = self.logdir / "partners.yaml"
        partners.write_text("partners: []\n")
        env = processes.service_env(redis_url, self.port, f"hubbench{uuid.uuid4().hex[:4]}:", {
            "SYNDICATION_FEEDS_FILE": str(feeds), "SYNDICATION_PARTNERS_FILE": str(partners),
            "SYNDICATION_WEBSUB_ALLOW_PRIVATE_CALLBACKS": "true", "SYNDICATION_WEBSUB_SUBSCRIBE_RATE": "100000",
            "SYNDICATION_RENDER_WINDOW": "0"})
        self.ctx = processes.service_context(env)
        api = self.procs.start(processes.api_proc(env, self.port, self.logdir))
        specs = processes.worker_specs(env)
        self.commands = processes.commands([api, *(self.procs.start(processes.spec_proc(s, env, self.logdir))
                                                   for s in specs)])
        processes.wait_api(api, self.port, 30)
        self.topic = f"http://{HOST}:{self.port}/feeds/bench.atom"

    def subscribe(self, ids: list[str]) -> None:
        from syndication.delivery import subscriptions

        for sid in ids:
            form = urlencode({"hub.mode": "subscribe", "hub.topic": self.topic, "hub.callback": self.wp.url(sid)})
            status = _post(self.port, "/websub", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
            if status != 202:
                raise BenchError(f"subscribe {sid}: HTTP {status}")
        wanted = {subscriptions.sub_id(self.topic, self.wp.url(s)) for s in ids}
        deadline = time.time() + 60
        while time.time() < deadline:
            if wanted <= set(subscriptions.active_ids(self.ctx, "bench", "atom", time.time())):
                return
            time.sleep(0.2)
        raise BenchError(f"subscriptions not all verified within 60 s ({len(wanted)} asked)")

    def receipts(self, key: str, since: float, ids: list[str], timeout: float = 60) -> dict[str, float]:
        """subscriber -> when it had `key` (the feed version), waiting until every one of `ids` has it."""
        deadline, wanted = time.time() + timeout, set(ids)
        while True:
            got = {e[0]: e[5] for e in self.wp.log() if e[1] == key and e[3] == 200 and e[4] >= since}
            if wanted <= set(got) or time.time() > deadline:
                return {s: got[s] - since for s in ids if s in got}
            time.sleep(0.1)

    def change(self, i: int) -> tuple[str, float]:
        """Publish story i; returns (the new feed version's receiver key, when the POST was sent)."""
        art = make_article(i, CATEGORY, datetime.now(timezone.utc))
        at = time.time()
        status = _post(self.port, "/v1/events", event_body(art, f"ev-{uuid.uuid4().hex}"),
                       {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"})
        if status != 202:
            raise BenchError(f"publish: HTTP {status}")
        deadline = time.time() + 30
        while time.time() < deadline:
            body = self.ctx.redis.hget(self.ctx.keys.feed_rendered("bench", "atom"), "body") or b""
            if art["id"].encode() in body:
                self.rendered_ms.append((time.time() - at) * 1000)  # polled every 20 ms: an upper bound
                return feed_key(body), at
            time.sleep(0.02)
        raise BenchError("the feed did not render the story within 30 s")

    def hub_case(self, first: int) -> list[dict]:
        runs = []
        for i in range(self.size["changes"]):
            key, at = self.change(first + i)
            got = self.receipts(key, at, self.healthy)
            runs.append(summary(got, len(self.healthy)))
        return runs

    def baseline(self) -> list[dict]:
        """The same bytes to the same subscribers from plain threads, one per subscriber, connected first."""
        body = self.ctx.redis.hget(self.ctx.keys.feed_rendered("bench", "atom"), "body")
        key = feed_key(body)
        runs = []
        for _ in range(self.size["changes"]):
            ready = threading.Barrier(len(self.healthy) + 1)
            go = threading.Event()

            def push(s):
                u = urlsplit(self.wp.url(s))
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                try:
                    for timed in (False, True):  # the first POST warms the connection (as the hub's are)
                        if timed:
                            ready.wait()
                            go.wait()
                        conn.request("POST", u.path, body=body, headers={"Content-Type": "application/atom+xml"})
                        conn.getresponse().read()
                finally:
                    conn.close()

            threads = [threading.Thread(target=push, args=(s,)) for s in self.healthy]
            for t in threads:
                t.start()
            ready.wait()
            at = time.time()
            go.set()
            for t in threads:
                t.join(60)
            runs.append(summary(self.receipts(key, at, self.healthy), len(self.healthy)))
        return runs


def summary(got: dict[str, float], expected: int) -> dict:
    xs = sorted(got.values())
    return {"received": len(xs), "expected": expected, "p50_ms": report.quantile(xs, 0.5) * 1000,
            "p95_ms": report.quantile(xs, 0.95) * 1000, "last_ms": (xs[-1] if xs else float("nan")) * 1000}


def median_of(runs: list[dict], field: str) -> float:
    return statistics.median(r[field] for r in runs)


def run(args, procs, logdir) -> int:
    out = report.console(140)
    started = time.time()
    m = report.machine("python")
    b = Bench(args, procs, logdir, out)
    with PartnerNet(use_namespace=not args.no_namespace) as net:
        b.start(start_wan_partners(procs, logdir, net, None))
        where = net.describe()
        b.subscribe(b.healthy)
        key, at = b.change(0)  # a first change opens the hub's connections, as in steady use
        b.receipts(key, at, b.healthy)
        cases = {"hub": b.hub_case(1), "baseline": b.baseline()}
        b.subscribe(b.hung)
        cases["hung"] = b.hub_case(100)
    t = report.table(f"one change, {len(b.healthy)} subscribers {b.size['rtt_ms']} ms away, "
                     f"median of {b.size['changes']}", ("case", "received", "p50", "p95", "last"), left=("case",))
    for name, runs in cases.items():
        t.add_row(name + (f" (+{len(b.hung)} hung)" if name == "hung" else ""),
                  f"{min(r['received'] for r in runs)}/{len(b.healthy)}",
                  *(f"{median_of(runs, f):.0f} ms" for f in ("p50_ms", "p95_ms", "last_ms")))
    report.print_header(out, "syndication WebSub hub: one change to many subscribers far away", m, "",
                        report.reproduce_command("benchmarks/websub.py", ["--quick"] if args.quick else []),
                        b.commands, inside=[where, "round trip added by the receiver (no netem in this kernel)"])
    out.print(t)
    ratios = {"last_hub_over_baseline": report.ratio(median_of(cases["hub"], "last_ms"),
                                                     median_of(cases["baseline"], "last_ms")),
              "p95_hub_over_baseline": report.ratio(median_of(cases["hub"], "p95_ms"),
                                                    median_of(cases["baseline"], "p95_ms")),
              "healthy_p95_hung_over_hub": report.ratio(median_of(cases["hung"], "p95_ms"),
                                                        median_of(cases["hub"], "p95_ms"))}
    render = statistics.median(b.rendered_ms)
    out.print(f"publish -> feed rendered and stored (inside every hub figure, not in the baseline's): "
              f"median {render:.0f} ms", highlight=False)
    for name, x in ratios.items():
        out.print(f"{name}: {x:.2f}", highlight=False)
    lost = [name for name, runs in cases.items() if any(r["received"] < r["expected"] for r in runs)]
    for name in lost:
        out.print(f"INCOMPLETE {name}: a subscriber did not receive the change within 60 s", highlight=False)
    report.print_footer(out, started)
    doc = {"benchmark": "websub", "machine": m, "where": where, "size": b.size, "quick": args.quick,
           "cases": cases, "ratios": ratios, "render_ms_median": render, "incomplete": lost, "seconds": time.time() - started}
    if args.docs and not lost:
        args.json = args.json or str(DOCS)
    if args.json:
        report.write_json(args.json, doc)
        out.print(f"figures as JSON: {args.json}")
    return 1 if lost else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return processes.run_guarded("websub-bench-", args.keep_logs, lambda procs, logdir: run(args, procs, logdir))


if __name__ == "__main__":
    sys.exit(main())
