#!/usr/bin/env python
"""Feed benchmarks: render cost, serving cost, and render coalescing, from one run.

Run from the repository root (about a minute; under 3 minutes on a noisy 2-core box):

    .venv/bin/python benchmarks/feeds.py            # or: make bench
    .venv/bin/python benchmarks/feeds.py --help     # durations, connections, client, burst size

It needs `redis-server` on PATH (`apt-get install -y redis-server`). It starts its own
throwaway `redis-server` on a free port (never 6379, no persistence), and its own API
and Celery workers against it; everything listens on and talks to 127.0.0.1 only, and
every process it started is stopped when it exits (also on Ctrl-C or an error).
The HTTP load generator runs in separate processes: `wrk` when it is on PATH
(`apt-get install -y wrk`), else a Python client (multiprocessing, keep-alive http.client
connections); `--client` chooses.

It prints the machine, the exact command that reproduces the run, and three tables:

1. Render: median time (ms) of N renders of a 50-item and a 500-item feed per format
   (rss, atom, json), calling `syndication.feeds.render.RENDERERS` directly on realistic
   articles (~3 kB HTML body, 1 image, 2 categories, cleaned by `clean_article`), and each
   as a ratio to a same-run baseline: `json.dumps` of the same article list.
2. Serve: responses/s and p99 latency of a pre-rendered 50-item full-text RSS feed through
   the real API process: (a) 200 gzipped, (b) 304 on If-None-Match, and (c) GET /healthz on
   the same server as the baseline; (a) and (b) are also given as ratios of (c).
3. Burst: 1,000 valid events POSTed to /v1/events as fast as a few threads can, spread
   over 3 category feeds, with a real events worker and feeds worker: renders per feed,
   events per feed, renders per 100 events, and freshness (from the 202 of the last event
   of a feed until the feed's stored bytes hold that article).

Ratios are what to compare across machines and commits; absolute numbers depend on the
machine and on what else it is doing (the load average at the start is printed).
"""

from __future__ import annotations

import argparse
import atexit
import gzip
import http.client
import json
import multiprocessing as mp
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
API_KEY = "bench-publisher-key"
KEY_PREFIX = "bench:"
SERVE_FEED = "bench-full"  # section 2: 50 full-text items, only articles in category "Benchmark"
BURST_FEEDS = {"economy": "Economy", "politics": "Politics", "sport": "Sport"}  # section 3
SHARED_CATEGORY = "Kazakhstan"  # every article's second category (no feed filters on it)
EVENTS_POOL = ["-P", "threads", "-c", "4"]  # as `syndication up` runs the events worker
FEEDS_POOL = ["-P", "threads", "-c", "2"]  # as `syndication up` runs the feeds worker


class BenchError(RuntimeError):
    """A failure with a message meant for the person running the benchmark."""


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Proc:
    """A child process in its own session (process group), logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict, logdir: Path):
        self.name, self.argv, self.env = name, argv, env
        self.log = logdir / f"{name}.log"
        self.p: subprocess.Popen | None = None

    def start(self) -> "Proc":
        with open(self.log, "ab") as fh:
            self.p = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def alive(self) -> bool:
        if self.p.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.p.returncode}; last lines of {self.log}:\n{self.tail()}")
        return True

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:]) if self.log.exists() else ""

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alive() and predicate():
                return
            time.sleep(0.05)
        raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}; last lines of {self.log}:\n{self.tail()}")

    def wait_log(self, text: str, timeout: float = 60.0) -> "Proc":
        self.wait_for(lambda: text.encode() in self.log.read_bytes(), timeout, f"{self.name}: {text!r} in its log")
        return self

    def stop(self, timeout: float = 8.0) -> None:
        if not self.p or self.p.poll() is not None:
            return
        try:
            os.killpg(self.p.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait(5)


class Processes:
    """Every process this run started; stopped in reverse order, exactly once."""

    def __init__(self):
        self.procs: list[Proc] = []
        self._lock = threading.Lock()

    def start(self, proc: Proc) -> Proc:
        with self._lock:
            self.procs.append(proc)
        return proc.start()

    def stop_all(self) -> None:
        with self._lock:
            procs, self.procs = self.procs, []
        for proc in reversed(procs):
            try:
                proc.stop()
            except Exception as exc:  # keep stopping the others
                print(f"warning: could not stop {proc.name}: {exc}", file=sys.stderr)


def require_redis_server() -> str:
    binary = shutil.which("redis-server")
    if not binary:
        raise BenchError("redis-server is not installed or not on PATH: install it with "
                         "`apt-get install -y redis-server` (the benchmark starts its own throwaway instance "
                         "on a free port; it never uses a running Redis)")
    return binary


def start_redis(procs: Processes, logdir: Path) -> tuple[str, int]:
    binary = require_redis_server()
    for _ in range(5):
        port = free_port()
        if port == 6379:
            continue
        argv = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
                "--dir", str(logdir), "--protected-mode", "yes", "--daemonize", "no"]
        proc = procs.start(Proc("redis", argv, dict(os.environ), logdir))
        try:
            proc.wait_log("Ready to accept connections", timeout=15)
            return f"redis://{HOST}:{port}/0", port
        except BenchError:
            if proc.p.poll() is None:
                raise
            continue  # lost the port race; try another
    raise BenchError("could not start redis-server on a free port")


def service_env(redis_url: str, api_port: int, feeds_file: Path, render_window: float) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
    env.update({
        "SYNDICATION_REDIS_URL": redis_url,
        "SYNDICATION_KEY_PREFIX": KEY_PREFIX,
        "SYNDICATION_API_KEYS": API_KEY,
        "SYNDICATION_FEEDS_FILE": str(feeds_file),
        "SYNDICATION_BASE_URL": f"http://{HOST}:{api_port}",
        "SYNDICATION_RENDER_WINDOW": repr(render_window),
        "PYTHONUNBUFFERED": "1",
    })
    return env


def write_feeds_file(path: Path) -> None:
    import yaml

    feeds = [{"name": SERVE_FEED, "title": "Benchmark full text", "description": "50 full-text items",
              "language": "en", "max_items": 50, "filters": {"categories": ["Benchmark"]}}]
    feeds += [{"name": name, "title": cat, "language": "en", "max_items": 50, "filters": {"categories": [cat]}}
              for name, cat in BURST_FEEDS.items()]
    path.write_text(yaml.safe_dump({"feeds": feeds}, sort_keys=False))


def api_proc(env: dict, port: int, logdir: Path) -> Proc:
    argv = [sys.executable, "-m", "syndication.cli", "api", "--host", HOST, "--port", str(port)]
    return Proc("api", argv, env, logdir)


def worker_proc(queue: str, pool_args: list[str], env: dict, logdir: Path) -> Proc:
    argv = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queue, *pool_args,
            "--without-gossip", "--without-mingle", "-n", f"{queue}-bench@%h", "-l", "info"]
    return Proc(f"worker-{queue}", argv, env, logdir)


def http_ok(port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- articles

_PARAGRAPHS = [
    "The {topic} ministry said on {day} that the programme, first announced in {year}, would be "
    "extended to <a href=\"https://news.example/regions/{n}\">{n} more regions</a> by the end of "
    "the year, with funding of <strong>{n}.{m} billion tenge</strong> &amp; further support.",
    "Officials told reporters in Astana that &ldquo;the figures for the first quarter are encouraging&rdquo;, "
    "but analysts at two banks warned that <em>inflation</em> could erode the gains seen since {year}.",
    "According to the statistics bureau, output rose {m}.{n}% year on year, the fastest pace since "
    "{year}; exports of grain and metals accounted for most of the increase.",
    "<blockquote cite=\"https://news.example/quotes/{n}\">We expect the new rules to take effect "
    "on 1 January, and we will publish the details next month.</blockquote>",
    "The decision follows a review of {n} applications submitted by companies in the {topic} sector, "
    "of which {m} were approved, the agency said in a statement on its website.",
    "<ul><li>Phase one: {n} sites</li><li>Phase two: {m} sites</li><li>Budget: {n}{m} million</li></ul>",
]


def article_body(i: int, target: int = 3000) -> str:
    topic = ("economy", "transport", "energy", "health")[i % 4]
    parts, k = [], 0
    while sum(map(len, parts)) < target:
        text = _PARAGRAPHS[k % len(_PARAGRAPHS)].format(topic=topic, day="Monday", year=2020 + (i + k) % 6,
                                                        n=(i * 7 + k) % 97 + 3, m=(i + k * 3) % 9 + 1)
        parts.append(text if text.startswith(("<blockquote", "<ul")) else f"<p>{text}</p>")
        k += 1
    # A figure and something the cleaner must strip, as newsroom HTML has.
    parts.insert(2, f"<figure><img src=\"https://news.example/media/{i}.jpg\" alt=\"photo {i}\" "
                    f"onerror=\"alert(1)\" width=\"800\" height=\"450\"><figcaption>Photo {i}</figcaption></figure>")
    parts.append("<script>track()</script>")
    return "".join(parts)


def make_article(i: int, category: str, published_at: datetime, version: int = 1) -> dict:
    aid = f"bench-{category.lower()}-{i:05d}"
    return {
        "id": aid,
        "version": version,
        "url": f"https://news.example/en/{category.lower()}/{aid}",
        "language": "en",
        "headline": f"{category}: regional programme extended to new areas ({i})",
        "summary": f"The programme will reach more regions by the end of the year, officials said ({i}).",
        "body_html": article_body(i),
        "authors": [("Aigerim Nurlanovna", "Daniyar Seitkali", "Marat Ospanov")[i % 3]],
        "categories": [category, SHARED_CATEGORY],
        "section": category,
        "dateline": "ASTANA",
        "source": "Newsroom Example",
        "published_at": published_at.isoformat(),
        "updated_at": published_at.isoformat(),
        "images": [{"url": f"https://news.example/media/2026/{i}.jpg", "caption": f"Photo {i}",
                    "mime_type": "image/jpeg", "width": 1600, "height": 900}],
    }


def seed_feed(ctx, category: str, count: int, start: datetime, first: int = 0) -> list[dict]:
    """Store `count` articles in `category` the way applying events does (clean, CAS, place)."""
    from syndication.feeds import index
    from syndication.text import clean_article

    arts = []
    for i in range(first, first + count):
        art = make_article(i, category, start + timedelta(seconds=i))
        ctx.articles.apply(art["id"], art["version"], clean_article(art), withdrawn=False,
                           event_id=f"seed-{art['id']}", now=time.time())
        index.place(ctx, ctx.articles.get(art["id"]), art["updated_at"])
        arts.append(art)
    return arts


# --------------------------------------------------------------------------- 1. render


def bench_render(runs_small: int, runs_large: int) -> list[dict]:
    from syndication.feeds.render import RENDERERS
    from syndication.feeds.spec import FeedSpec
    from syndication.text import clean_article

    start = datetime(2026, 11, 20, 9, 0, tzinfo=timezone(timedelta(hours=5)))
    cats = list(BURST_FEEDS.values())
    articles = [clean_article(make_article(i, cats[i % 3], start + timedelta(minutes=i))) for i in range(500)]
    spec = FeedSpec(name="bench-render", title="Render benchmark", description="Realistic articles")
    base = "http://127.0.0.1:8000"
    rows = []
    for n, runs in ((50, runs_small), (500, runs_large)):
        items = articles[:n]
        fns = {"json.dumps (baseline)": lambda: json.dumps(items, ensure_ascii=False).encode()}
        for fmt, render in RENDERERS.items():
            fns[fmt] = lambda render=render: render(spec, items, base, None, 0.0)
        sizes = {name: len(fn()) for name, fn in fns.items()}  # also the warm-up
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(runs):  # interleaved, so drift on a noisy machine hits every column alike
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        baseline = statistics.median(times["json.dumps (baseline)"])
        for name in fns:
            med = statistics.median(times[name])
            rows.append({"items": n, "what": name, "runs": runs, "median_ms": med * 1000,
                         "min_ms": min(times[name]) * 1000, "ratio": med / baseline, "bytes": sizes[name],
                         "body_bytes": sum(len(a["body_html"]) for a in items) // n})
    return rows


# --------------------------------------------------------------------------- 2. serve


def _client_worker(port: int, path: str, headers: dict, conns: int, start_at: float, duration: float, out):
    """One load process: `conns` keep-alive connections, one thread each, closed-loop."""
    results = []

    def loop():
        lat, statuses, nbytes, errors = [], {}, 0, 0
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        while time.time() < start_at:
            time.sleep(0.001)
        end = time.perf_counter() + duration
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            try:
                conn.request("GET", path, headers=headers)
                r = conn.getresponse()
                body = r.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
                continue
            lat.append(time.perf_counter() - t0)
            statuses[r.status] = statuses.get(r.status, 0) + 1
            nbytes += len(body)
        conn.close()
        results.append((lat, statuses, nbytes, errors))

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = [x for r in results for x in r[0]]
    statuses: dict[int, int] = {}
    for r in results:
        for k, v in r[1].items():
            statuses[k] = statuses.get(k, 0) + v
    out.put((lat, statuses, sum(r[2] for r in results), sum(r[3] for r in results)))


def load_python(port: int, path: str, headers: dict, connections: int, duration: float, procs: int) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = max(1, min(procs, connections))
    per = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    start_at = time.time() + 1.0  # let every process import and connect first
    ps = [ctx.Process(target=_client_worker, args=(port, path, headers, c, start_at, duration, q), daemon=True)
          for c in per]
    for p in ps:
        p.start()
    parts = [q.get(timeout=duration + 60) for _ in ps]
    for p in ps:
        p.join(10)
    lat = sorted(x for part in parts for x in part[0])
    statuses: dict[int, int] = {}
    for part in parts:
        for k, v in part[1].items():
            statuses[k] = statuses.get(k, 0) + v
    n = len(lat)
    return {"rps": n / duration, "elapsed": duration, "client_cpu": float("nan"),
            "p50_ms": lat[n // 2] * 1000 if n else float("nan"),
            "p99_ms": lat[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"),
            "requests": n, "statuses": statuses, "bytes_per_resp": sum(p[2] for p in parts) / max(n, 1),
            "errors": sum(p[3] for p in parts)}


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _wrk_time(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def _wrk_size(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)([KMGT]?B)", text)
    return float(m.group(1)) * {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}[m.group(2)]


def load_wrk(port: int, path: str, headers: dict, connections: int, duration: float, threads: int) -> dict:
    argv = ["wrk", f"-t{max(1, min(threads, connections))}", f"-c{connections}", f"-d{duration:g}s", "--latency",
            "--timeout", "10s"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    argv.append(f"http://{HOST}:{port}{path}")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            _, status, usage = os.wait4(p.pid, 0)
        except BaseException:
            p.kill()
            p.wait()
            raise
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errtext = out.read(), err.read()
    if p.returncode != 0 or "Requests/sec" not in text:
        raise BenchError(f"wrk failed ({p.returncode}): {' '.join(argv)}\n{text}\n{errtext}")
    lat = {m.group(1): _wrk_time(m.group(2)) for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)", text, re.M)}
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m), (\S+) read", text)
    requests = int(total.group(1))
    elapsed = float(total.group(2)) * _UNITS[total.group(3)] / 1000
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"rps": requests / elapsed, "p50_ms": lat.get("50", float("nan")), "p99_ms": lat.get("99", float("nan")),
            "requests": requests, "statuses": {"non-2xx/3xx": int(non_ok.group(1))} if non_ok else {},
            "bytes_per_resp": _wrk_size(total.group(4)) / max(requests, 1), "elapsed": elapsed,
            "client_cpu": usage.ru_utime + usage.ru_stime,
            "errors": sum(int(g) for g in errors.groups()) if errors else 0}


def probe(port: int, path: str, headers: dict) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def bench_serve(ctx, port: int, args, pids: dict[str, int]) -> tuple[list[dict], dict]:
    from syndication.feeds import store

    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    seed_feed(ctx, "Benchmark", 50, start)
    outcome = store.render_feed(ctx, SERVE_FEED)
    path = f"/feeds/{SERVE_FEED}.rss"
    # Check what each scenario really gets before timing it.
    status, h, body = probe(port, path, {"Accept-Encoding": "gzip"})
    if status != 200 or h.get("content-encoding") != "gzip":
        raise BenchError(f"GET {path} with gzip: expected 200 gzip, got {status} {h}")
    plain = gzip.decompress(body)
    if plain.count(b"<item>") != 50:
        raise BenchError(f"GET {path}: expected 50 <item>s, got {plain.count(b'<item>')}")
    etag = h["etag"]
    status304, _, _ = probe(port, path, {"If-None-Match": etag, "Accept-Encoding": "gzip"})
    if status304 != 304:
        raise BenchError(f"GET {path} with If-None-Match {etag}: expected 304, got {status304}")
    info = {"path": path, "plain_bytes": len(plain), "gzip_bytes": len(body), "etag": etag,
            "render_ms": outcome.duration * 1000}
    scenarios = [
        ("(c) /healthz (baseline)", "/healthz", {}),
        ("(a) 200 gzip", path, {"Accept-Encoding": "gzip"}),
        ("(b) 304 If-None-Match", path, {"If-None-Match": etag, "Accept-Encoding": "gzip"}),
    ]
    expected = {"(c) /healthz (baseline)": 200, "(a) 200 gzip": 200, "(b) 304 If-None-Match": 304}
    run = (lambda p, h, d: load_wrk(port, p, h, args.connections, d, args.client_threads)) if args.client == "wrk" \
        else (lambda p, h, d: load_python(port, p, h, args.connections, d, args.client_threads))
    if args.client == "wrk":
        for _, p, headers in scenarios:
            run(p, headers, 1)  # warm-up (the Python client warms up in its own start delay)
    # Rounds, in a rotating order, so drift on a noisy machine does not land on one scenario only.
    per_round = args.duration / args.rounds
    if args.client == "wrk":  # wrk takes whole seconds
        per_round = max(1, round(per_round))
    info["per_round"] = per_round
    results: dict[str, list[dict]] = {label: [] for label, _, _ in scenarios}
    for rnd in range(args.rounds):
        order = scenarios[rnd % 3:] + scenarios[:rnd % 3]
        for label, p, headers in order:
            cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
            res = run(p, headers, per_round)
            res["cpu"] = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
            results[label].append(res)
    rows = []
    for label, _, _ in scenarios:
        rs = results[label]
        requests = sum(r["requests"] for r in rs)
        elapsed = sum(r["elapsed"] for r in rs)
        statuses: dict = {}
        for r in rs:
            for k, v in r["statuses"].items():
                statuses[k] = statuses.get(k, 0) + v
        rates = [r["requests"] / r["elapsed"] for r in rs]
        # wrk counts only non-2xx/3xx; the Python client sees each status (a 200 where a 304 was due is wrong).
        unexpected = sum(v for k, v in statuses.items() if k != expected[label])
        row = {"label": label, "rps": requests / elapsed, "requests": requests, "unexpected": unexpected,
               "p50_ms": statistics.median(r["p50_ms"] for r in rs), "p99_ms": max(r["p99_ms"] for r in rs),
               "bytes_per_resp": sum(r["bytes_per_resp"] * r["requests"] for r in rs) / max(requests, 1),
               "errors": sum(r["errors"] for r in rs),
               "spread": (max(rates) - min(rates)) / statistics.mean(rates) if len(rates) > 1 else 0.0,
               "client_cpu_us": 1e6 * sum(r["client_cpu"] for r in rs) / max(requests, 1)}
        for name in pids:
            used = sum(r["cpu"][name] for r in rs)
            row[f"{name}_cpu_us"] = 1e6 * used / max(requests, 1)
            row[f"{name}_cpu_pct"] = 100 * used / elapsed
        rows.append(row)
    base = rows[0]["rps"]
    for r in rows:
        r["ratio"] = r["rps"] / base if base else float("nan")
    return rows, info


# --------------------------------------------------------------------------- 3. burst


def _redis_int(v) -> int:
    return int(v) if v is not None else 0


def bench_burst(ctx, port: int, args) -> tuple[list[dict], dict]:
    from syndication.feeds import store

    r = ctx.redis
    keys = ctx.keys
    names = list(BURST_FEEDS)
    # Steady state first: each feed already holds 50 older articles and has been rendered.
    old = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)
    for name, cat in BURST_FEEDS.items():
        seed_feed(ctx, cat, 50, old, first=100_000)
        store.render_feed(ctx, name)
    time.sleep(ctx.settings.render_window + 0.1)  # the first burst render need not wait for the window
    before = {n: _redis_int(r.hget(keys.feed_stats(n), "renders")) for n in names}

    # 1,000 events, round-robin over the feeds, each published 1 ms after the previous one.
    now = datetime.now(timezone.utc)
    events = []
    for i in range(args.events):
        name = names[i % len(names)]
        art = make_article(i, BURST_FEEDS[name], now + timedelta(milliseconds=i))
        ev = {"event_id": f"bench-evt-{art['id']}-v1", "type": "article.published",
              "occurred_at": art["published_at"], "article": art}
        events.append((name, art["url"], json.dumps(ev, ensure_ascii=False).encode()))
    sent: list[tuple | None] = [None] * len(events)
    nxt = iter(range(len(events)))
    lock = threading.Lock()
    failures: list[str] = []

    def sender():
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        hdrs = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                break
            t0 = time.time()
            try:
                conn.request("POST", "/v1/events", body=events[i][2], headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                failures.append(f"event {i}: {exc!r}")
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
                continue
            sent[i] = (resp.status, t0, time.time())
            if resp.status != 202:
                failures.append(f"event {i}: {resp.status} {data[:200]!r}")
        conn.close()

    senders = [threading.Thread(target=sender, daemon=True) for _ in range(args.senders)]
    t_start = time.time()
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    t_sent = time.time()
    if failures:
        raise BenchError(f"{len(failures)} of {len(events)} POST /v1/events failed, e.g.: {failures[:3]}")

    # The last accepted event of each feed; watch for its article in the stored bytes.
    last = {}
    for i, (name, url, _) in enumerate(events):
        if name not in last or sent[i][2] > sent[last[name]][2]:
            last[name] = i
    seen: dict[str, float] = {}
    etags: dict[str, bytes] = {}
    deadline = time.time() + args.drain_timeout
    applied_at = None
    while time.time() < deadline:
        for name in names:
            if name in seen:
                continue
            key = keys.feed_rendered(name, "rss")
            etag = r.hget(key, "etag")
            if etag != etags.get(name):
                etags[name] = etag
                body = r.hget(key, "body") or b""
                if events[last[name]][1].encode() in body:
                    seen[name] = time.time()
        if applied_at is None and r.zcard(keys.events_pending) == 0:
            applied_at = time.time()
        if applied_at and len(seen) == len(names):
            break
        time.sleep(0.005)
    else:
        raise BenchError(f"burst not drained after {args.drain_timeout:.0f}s: "
                         f"{r.zcard(keys.events_pending)} events pending, feeds fresh: {sorted(seen)}")
    # Let the tail of the coalescing finish: no feed dirty, no render queued or running, counts stable.
    settle_deadline = time.time() + args.drain_timeout
    stable_since, prev = None, None
    while time.time() < settle_deadline:
        busy = r.zcard(keys.feeds_dirty) or any(r.exists(keys.feed_render_lock(n)) for n in names)
        counts = tuple(_redis_int(r.hget(keys.feed_stats(n), "renders")) for n in names)
        if busy or counts != prev:
            stable_since, prev = None, counts
        elif stable_since is None:
            stable_since = time.time()
        elif time.time() - stable_since > ctx.settings.render_window + 0.5:
            break
        time.sleep(0.05)
    # When each event was applied (the events worker logs it in events:log, capped at 1,000 entries).
    applied = {}
    for raw in r.lrange(keys.events_log, 0, -1):
        entry = json.loads(raw)
        applied.setdefault(entry["event_id"], entry["at"])
    event_ids = [json.loads(body)["event_id"] for _, _, body in events]
    applied_times = [applied[e] for e in event_ids if e in applied]
    rows = []
    for name in names:
        stats = {k.decode(): v.decode() for k, v in r.hgetall(keys.feed_stats(name)).items()}
        # The final stored bytes must hold the feed's 50 newest articles: the last 50 events of its category.
        mine = [url for n, url, _ in events if n == name][-50:]
        final = r.hget(keys.feed_rendered(name, "rss"), "body") or b""
        held = sum(1 for url in mine if f"<link>{url}</link>".encode() in final)
        t_applied = applied.get(event_ids[last[name]])
        renders = int(stats.get("renders", 0)) - before[name]
        n_events = sum(1 for e in events if e[0] == name)
        rows.append({"feed": name, "category": BURST_FEEDS[name], "events": n_events, "renders": renders,
                     "per100": 100 * renders / n_events, "fresh_ms": (seen[name] - sent[last[name]][2]) * 1000,
                     "to_apply_ms": (t_applied - sent[last[name]][2]) * 1000 if t_applied else float("nan"),
                     "to_feed_ms": (seen[name] - t_applied) * 1000 if t_applied else float("nan"),
                     "newest_held": held, "newest_wanted": len(mine),
                     "last_render_ms": float(stats.get("last_duration", 0)) * 1000})
    lat = sorted(s[2] - s[1] for s in sent)
    info = {"events": len(events), "send_s": t_sent - t_start, "accept_rps": len(events) / (t_sent - t_start),
            "post_p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000, "applied_s": applied_at - t_start,
            "window": ctx.settings.render_window, "senders": args.senders,
            "statuses": sorted({s[0] for s in sent}),
            "apply_rps": (len(applied_times) - 1) / (max(applied_times) - min(applied_times))
            if len(applied_times) > 1 else float("nan")}
    return rows, info


# --------------------------------------------------------------------------- report


def machine(client_kind: str) -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    client = "python load client"
    if client_kind == "wrk":
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        client = " ".join((wrk.stdout + wrk.stderr).split()[:2])
    nproc = str(len(os.sched_getaffinity(0)))  # what `nproc` prints
    redis_v = subprocess.run([shutil.which("redis-server"), "--version"], capture_output=True, text=True).stdout.split()
    redis_v = next((w.split("=", 1)[1] for w in redis_v if w.startswith("v=")), "?")
    return {"nproc": nproc, "cpu": cpu, "python": platform.python_version(),
            "impl": platform.python_implementation(), "os": f"{platform.system()} {platform.release()}",
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg()), "redis": redis_v,
            "client": client}


def reproduce_command(args) -> str:
    py = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    opts = ["--duration", f"{args.duration:g}", "--rounds", str(args.rounds), "--connections",
            str(args.connections), "--client", args.client, "--client-threads", str(args.client_threads),
            "--events", str(args.events), "--senders", str(args.senders), "--render-window",
            f"{args.render_window:g}", "--runs-small", str(args.runs_small), "--runs-large", str(args.runs_large)]
    return f"cd {shlex.quote(str(ROOT))} && {shlex.join([py, 'benchmarks/feeds.py', *opts])}"


def report(console, m, args, commands, render_rows, serve_rows, serve_info, burst_rows, burst_info,
           started) -> None:
    from rich.table import Table

    console.print(f"[bold]syndication feed benchmarks[/bold]  {datetime.now().astimezone():%Y-%m-%d %H:%M:%S %Z}")
    console.print(f"machine: nproc={m['nproc']}  cpu={m['cpu']}  {m['impl']} {m['python']}  {m['os']}  "
                  f"redis-server {m['redis']}  {m['client']}  load avg at start {m['load']}",
                  soft_wrap=True, markup=False)
    console.print(f"reproduce: {reproduce_command(args)}", soft_wrap=True, markup=False)
    console.print("service: " + "  |  ".join(commands), soft_wrap=True, markup=False)

    t = Table(title="1. Render (RENDERERS called directly; realistic cleaned articles)", title_justify="left",
              caption_justify="left")
    for col, just in (("items", "right"), ("format", "left"), ("runs", "right"), ("median ms", "right"),
                      ("min ms", "right"), ("× json.dumps", "right"), ("output bytes", "right")):
        t.add_column(col, justify=just)
    for r in render_rows:
        base = r["what"].startswith("json.dumps")
        t.add_row(str(r["items"]), r["what"], str(r["runs"]), f"{r['median_ms']:.2f}", f"{r['min_ms']:.2f}",
                  "1.00" if base else f"{r['ratio']:.1f}", f"{r['bytes']:,}", style="dim" if base else None)
    t.caption = (f"articles: ~{render_rows[0]['body_bytes']:,} B cleaned HTML body, 1 image, 2 categories; "
                 "baseline = json.dumps(articles) of the same list, same run")
    console.print(t)

    t = Table(title=f"2. Serve {serve_info['path']} through the API ({args.client}, {args.connections} "
                    f"connections, {args.rounds} interleaved rounds × {serve_info['per_round']:g} s per scenario)",
              title_justify="left", caption_justify="left")
    for col in ("scenario", "resp/s", "× healthz", "p50 ms", "p99 ms", "B/resp", "bad", "spread",
                "API core", "API µs", "redis µs", "client µs"):
        t.add_column(col, justify="left" if col == "scenario" else "right", no_wrap=col == "scenario")
    for r in serve_rows:
        bad = r["errors"] + r["unexpected"]
        client = "-" if r["client_cpu_us"] != r["client_cpu_us"] else f"{r['client_cpu_us']:.0f}"
        t.add_row(r["label"], f"{r['rps']:,.0f}", f"{r['ratio']:.2f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                  f"{r['bytes_per_resp']:,.0f}", str(bad), f"{100 * r['spread']:.0f}%", f"{r['api_cpu_pct']:.0f}%",
                  f"{r['api_cpu_us']:.0f}", f"{r['redis_cpu_us']:.0f}", client)
    t.caption = (f"feed: 50 full-text items, {serve_info['plain_bytes']:,} B plain, {serve_info['gzip_bytes']:,} B "
                 f"gzip (pre-rendered in {serve_info['render_ms']:.0f} ms). p50 = median of rounds, p99 = worst "
                 "round; spread = (max-min)/mean of the rounds' rates; B/resp = bytes per response, with headers "
                 "(wrk) or body only (python client); API core = share of one core the API process used; "
                 "API/redis/client µs = CPU time (user+sys) of that process per response; bad = socket errors "
                 "and unexpected statuses")
    console.print(t)

    t = Table(title=f"3. Burst of {burst_info['events']:,} events over 3 feeds (render window "
                    f"{burst_info['window']:g} s; events worker {' '.join(EVENTS_POOL)}, "
                    f"feeds worker {' '.join(FEEDS_POOL)})",
              title_justify="left", caption_justify="left")
    for col in ("feed", "events", "renders", "renders/100 events", "freshness ms", "202→applied ms",
                "applied→in feed ms", "last render ms", "newest 50 stored"):
        t.add_column(col, justify="left" if col == "feed" else "right", no_wrap=col == "feed")
    fmt = lambda v: "?" if v != v else f"{v:,.0f}"  # noqa: E731 (nan: the events log no longer had it)
    for r in burst_rows:
        t.add_row(f"{r['feed']} ({r['category']})", str(r["events"]), str(r["renders"]), f"{r['per100']:.1f}",
                  fmt(r["fresh_ms"]), fmt(r["to_apply_ms"]), fmt(r["to_feed_ms"]), f"{r['last_render_ms']:.0f}",
                  f"{r['newest_held']}/{r['newest_wanted']}")
    tot_e = sum(r["events"] for r in burst_rows)
    tot_r = sum(r["renders"] for r in burst_rows)
    t.add_row("all", str(tot_e), str(tot_r), f"{100 * tot_r / tot_e:.1f}", "", "", "", "", "", style="bold")
    t.caption = (f"POSTed in {burst_info['send_s']:.1f} s ({burst_info['accept_rps']:,.0f} events/s accepted by "
                 f"{burst_info['senders']} threads, POST p99 {burst_info['post_p99_ms']:.0f} ms, statuses "
                 f"{burst_info['statuses']}); applied at {burst_info['apply_rps']:,.0f} events/s, all "
                 f"{burst_info['applied_s']:.1f} s after the first POST. freshness = the feed's last event's 202 "
                 "-> its article in the feed's stored bytes (= 202→applied + applied→in feed). "
                 "renders counted from feed:<name>:stats 'renders', minus the count before the burst")
    console.print(t)
    console.print(f"total run time {time.time() - started:.0f} s")


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=6.0,
                   help="seconds per serving scenario, over all rounds (default 6; whole seconds per round with wrk)")
    p.add_argument("--rounds", type=int, default=2,
                   help="split each scenario's duration into this many interleaved rounds (default 2)")
    p.add_argument("--connections", type=int, default=4, help="keep-alive connections for serving (default 4)")
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                   help="load generator: wrk if on PATH (auto), or the Python one")
    p.add_argument("--client-threads", type=int, default=1,
                   help="wrk threads, or Python client processes (default 1: leave a core to the server)")
    p.add_argument("--events", type=int, default=1000, help="events in the burst (default 1000)")
    p.add_argument("--senders", type=int, default=4, help="threads POSTing the burst (default 4)")
    p.add_argument("--render-window", type=float, default=1.0,
                   help="SYNDICATION_RENDER_WINDOW for the workers (default 1.0, the service default)")
    p.add_argument("--runs-small", type=int, default=41, help="renders per format of the 50-item feed")
    p.add_argument("--runs-large", type=int, default=11, help="renders per format of the 500-item feed")
    p.add_argument("--drain-timeout", type=float, default=90.0, help="seconds to wait for the burst to apply")
    p.add_argument("--keep-logs", action="store_true", help="keep the process logs (printed path)")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0 or args.connections < 1 or args.events < 3:
        p.error("--rounds, --duration and --connections must be positive, --events at least 3")
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "python"
    elif args.client == "wrk" and not shutil.which("wrk"):
        p.error("--client wrk: wrk is not on PATH (apt-get install -y wrk), or use --client python")
    return args


def guarded(body, procs, logdir: Path, keep_logs: bool) -> int:
    """Run a benchmark's body; always stop what it started; keep the logs only when it failed."""
    ok = False
    try:
        code = body()
        ok = True
        return code
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        ok = True  # nothing to debug: drop the logs unless --keep-logs
        return 130
    finally:
        procs.stop_all()
        if ok and not keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            print(f"logs: {logdir}", file=sys.stderr)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        require_redis_server()
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 140)
    started = time.time()
    m = machine(args.client)
    procs = Processes()
    atexit.register(procs.stop_all)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    logdir = Path(tempfile.mkdtemp(prefix="syndication-bench-"))
    def body() -> int:
        console.print("[dim]1/3 render …[/dim]")
        render_rows = bench_render(args.runs_small, args.runs_large)

        redis_url, _ = start_redis(procs, logdir)
        redis = procs.procs[-1]
        api_port = free_port()
        feeds_file = logdir / "feeds.yaml"
        write_feeds_file(feeds_file)
        env = service_env(redis_url, api_port, feeds_file, args.render_window)

        from syndication.context import Context
        from syndication.settings import Settings

        ctx = Context.build(Settings.from_env(env))
        api = procs.start(api_proc(env, api_port, logdir))
        api.wait_for(lambda: http_ok(api_port, "/healthz"), 30, "the API to answer /healthz")

        console.print(f"[dim]2/3 serve ({args.client}) …[/dim]")
        serve_rows, serve_info = bench_serve(ctx, api_port, args, {"api": api.p.pid, "redis": redis.p.pid})

        console.print("[dim]3/3 burst …[/dim]")
        workers = [procs.start(worker_proc("events", EVENTS_POOL, env, logdir)),
                   procs.start(worker_proc("feeds", FEEDS_POOL, env, logdir))]
        for w in workers:
            w.wait_log(" ready.", timeout=60)
        burst_rows, burst_info = bench_burst(ctx, api_port, args)
        for proc in procs.procs:
            proc.alive()
        commands = [shlex.join(["python", *p.argv[1:]]) for p in (api, *workers)]
        report(console, m, args, commands, render_rows, serve_rows, serve_info, burst_rows, burst_info, started)
        return 0

    return guarded(body, procs, logdir, args.keep_logs)


if __name__ == "__main__":
    sys.exit(main())
