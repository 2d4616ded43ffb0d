#!/usr/bin/env python
"""Feed benchmarks: render cost, serving cost, and render coalescing, from one run.

Run from the repository root (about a minute; under 3 minutes on a noisy 2-core box):

    .venv/bin/python benchmarks/feeds.py            # or: make bench
    .venv/bin/python benchmarks/feeds.py --help     # durations, connections, client, burst size
    .venv/bin/python benchmarks/feeds.py --json feeds.json   # the same figures, machine-readable too

It needs `redis-server` on PATH (`apt-get install -y redis-server`). It starts its own
throwaway `redis-server` on a free port (never 6379) with AOF as production runs it
(`appendonly yes`, `appendfsync everysec`; `--no-aof` to compare without), and its own API
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
   the real API process: (a) 200 gzipped, (b) 304 on If-None-Match, each as a ratio of a
   static-bytes baseline on the same server in the same run: the API is started through
   benchmarks/harness/static_baseline.py (`syndication api` itself, same uvicorn settings,
   with the real application behind a small ASGI layer) that answers /_bench/static-200 and
   /_bench/static-304 first, with the recorded status, headers and bytes of (a) and (b): the
   same response on the wire, minus all the work. Ratios by rate and by the API process's
   CPU per response (the steadier one when other processes share the cores). (c) GET /healthz,
   a FastAPI route run in its thread pool, is an extra row, as ratios of the static 304 (what
   a FastAPI route costs; feeds do not go through FastAPI).
3. Burst: 1,000 valid events POSTed to /v1/events as fast as a few threads can, spread
   over 3 category feeds (each event in exactly one), with a real events worker and feeds
   worker: per feed, its events, its renders and renders per 100 of its events; in all,
   the renders of all feeds per 100 events of the burst; and freshness (from the 202 of the
   last event of a feed until the feed's stored bytes hold that article).

Ratios are what to compare across machines and commits; absolute numbers depend on the
machine and on what else it is doing (the load average at the start is printed).

This script holds the three questions; processes, load generators, articles and the report
come from the shared harness, benchmarks/harness/ (one module per concept).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import BenchError, load, processes, report  # noqa: E402 (needs ROOT on sys.path)
from benchmarks.harness.articles import event_body, make_article  # noqa: E402
from benchmarks.harness.publish import Sender  # noqa: E402

KEY_PREFIX = "bench:"
SERVE_FEED = "bench-full"  # section 2: 50 full-text items, only articles in category "Benchmark"
SERVE_PATH = f"/feeds/{SERVE_FEED}.rss"
STATIC_200, STATIC_304 = "/_bench/static-200", "/_bench/static-304"  # section 2's baselines (static_baseline.py)
BURST_FEEDS = {"economy": "Economy", "politics": "Politics", "sport": "Sport"}  # section 3


# --------------------------------------------------------------------------- the service's feeds


def write_feeds_file(path: Path) -> None:
    import yaml

    feeds = [{"name": SERVE_FEED, "title": "Benchmark full text", "description": "50 full-text items",
              "language": "en", "max_items": 50, "filters": {"categories": ["Benchmark"]}}]
    feeds += [{"name": name, "title": cat, "language": "en", "max_items": 50, "filters": {"categories": [cat]}}
              for name, cat in BURST_FEEDS.items()]
    path.write_text(yaml.safe_dump({"feeds": feeds}, sort_keys=False))


def seed_feed(ctx, category: str, count: int, start: datetime, first: int = 0) -> None:
    """Store `count` articles in `category` the way applying events does (clean, CAS, place).

    Directly, not through POST /v1/events: sections 2 and 3 need feeds in a steady state before
    any worker runs, and seeding through the workers would put their work into the measurement.
    """
    from syndication.articles import ArticleStore
    from syndication.feeds import index
    from syndication.text import clean_article

    for i in range(first, first + count):
        art = make_article(i, category, start + timedelta(seconds=i))
        ArticleStore.of(ctx).apply(art["id"], art["version"], clean_article(art), withdrawn=False,
                           event_id=f"seed-{art['id']}", now=time.time())
        index.place(ctx, ArticleStore.of(ctx).get(art["id"]), art["updated_at"])


def render_feed(ctx, name: str):
    from syndication.feeds import store

    return store.render_feed(ctx, name)


def _int(v) -> int:
    return int(v) if v is not None else 0


def renders(ctx, name: str) -> int:
    """How many times the feeds worker has rendered `name` (the service's own counter)."""
    return _int(ctx.redis.hget(ctx.keys.feed_stats(name), "renders"))


# --------------------------------------------------------------------------- 1. render


def _time_interleaved(fns: dict, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):  # interleaved, so drift on a noisy machine hits every column alike
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def bench_render(runs_small: int, runs_large: int) -> list[dict]:
    """1. What does rendering a feed cost, against json.dumps of the same articles?"""
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
        times = _time_interleaved(fns, runs)
        baseline = statistics.median(times["json.dumps (baseline)"])
        for name in fns:
            med = statistics.median(times[name])
            rows.append({"items": n, "what": name, "runs": runs, "median_ms": med * 1000,
                         "min_ms": min(times[name]) * 1000, "ratio": report.ratio(med, baseline),
                         "bytes": sizes[name], "body_bytes": sum(len(a["body_html"]) for a in items) // n})
    return rows


# --------------------------------------------------------------------------- 2. serve


def _same_answer(port: int, static: str, path: str, headers: dict, want: tuple[int, dict, bytes]) -> None:
    """The static baseline path must answer exactly as the feed did: status, headers (but Date), bytes."""
    status, h, body = load.probe(port, static, headers)
    strip = lambda hs: {k: v for k, v in hs.items() if k != "date"}  # noqa: E731
    if (status, strip(h), body) != (want[0], strip(want[1]), want[2]):
        raise BenchError(f"GET {static} should replay GET {path} ({want[0]}, {len(want[2])} B, {strip(want[1])}); "
                         f"got {status}, {len(body)} B, {strip(h)}")


def serve_feed_ready(ctx, port: int) -> dict:
    """Seed and render the served feed; check what each scenario really gets before timing it.

    The first requests to the static paths record the feed's answers (static_baseline.py), so
    they come after the render; each is then checked to be the feed's answer byte for byte.
    """
    seed_feed(ctx, "Benchmark", 50, datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1))
    outcome = render_feed(ctx, SERVE_FEED)
    path = SERVE_PATH
    gz = {"Accept-Encoding": "gzip"}
    status, h, body = answer200 = load.probe(port, path, gz)
    if status != 200 or h.get("content-encoding") != "gzip":
        raise BenchError(f"GET {path} with gzip: expected 200 gzip, got {status} {h}")
    plain = gzip.decompress(body)
    if plain.count(b"<item>") != 50:
        raise BenchError(f"GET {path}: expected 50 <item>s, got {plain.count(b'<item>')}")
    etag = h["etag"]
    inm = {"If-None-Match": etag, "Accept-Encoding": "gzip"}
    answer304 = load.probe(port, path, inm)
    if answer304[0] != 304:
        raise BenchError(f"GET {path} with If-None-Match {etag}: expected 304, got {answer304[0]}")
    _same_answer(port, STATIC_200, path, gz, answer200)
    _same_answer(port, STATIC_304, path, inm, answer304)
    return {"path": path, "plain_bytes": len(plain), "gzip_bytes": len(body), "etag": etag,
            "render_ms": outcome.duration * 1000, "static_200": STATIC_200, "static_304": STATIC_304}


S200, S304 = "static 200, same bytes (baseline of a)", "static 304, same bytes (baseline of b)"
FEED200, FEED304, HEALTHZ = "(a) feed 200 gzip", "(b) feed 304 If-None-Match", "(c) /healthz (FastAPI), × static 304"


def bench_serve(ctx, port: int, args, pids: dict[str, int]) -> tuple[list[dict], dict]:
    """2. How close does one API process come to its own HTTP ceiling serving a stored feed (200 gzip, 304)?"""
    info = serve_feed_ready(ctx, port)
    path, etag = info["path"], info["etag"]
    gz, inm = {"Accept-Encoding": "gzip"}, {"If-None-Match": etag, "Accept-Encoding": "gzip"}
    scenarios = [  # (label, path, headers): the same requests to the static path and to the feed
        (S200, STATIC_200, gz),
        (S304, STATIC_304, inm),
        (FEED200, path, gz),
        (FEED304, path, inm),
        (HEALTHZ, "/healthz", {}),
    ]
    expected = {S200: 200, S304: 304, FEED200: 200, FEED304: 304, HEALTHZ: 200}
    baseline = {FEED200: S200, FEED304: S304, HEALTHZ: S304}  # row -> the row it is a ratio of
    gen = load.load_wrk if args.client == "wrk" else load.load_python
    run = lambda p, h, d: gen(port, p, h, args.connections, d, args.client_threads)  # noqa: E731
    if args.client == "wrk":
        for _, p, headers in scenarios:
            run(p, headers, 1)  # warm-up (the Python client warms up in its own start delay)
    per_round = args.duration / args.rounds
    if args.client == "wrk":  # wrk takes whole seconds
        per_round = max(1, round(per_round))
    info["per_round"] = per_round
    results = load.interleaved_rounds(scenarios, args.rounds, lambda p, h: run(p, h, per_round), pids)
    rows = [load.summarise_rounds(label, results[label], expected[label], pids) for label, _, _ in scenarios]
    by_label = {r["label"]: r for r in rows}
    for r in rows:
        base = baseline.get(r["label"])
        r["baseline"] = base
        r["ratio"] = report.ratio(r["rps"], by_label[base]["rps"]) if base else 1.0
        # The same comparison by the API's CPU per response (steadier than rates on a shared machine).
        r["cpu_ratio"] = report.ratio(by_label[base]["api_cpu_us"], r["api_cpu_us"]) if base else 1.0
    return rows, info


# --------------------------------------------------------------------------- 3. burst


def burst_events(count: int) -> list[tuple[str, str, bytes]]:
    """(feed, article URL, body) of `count` events, round-robin over the feeds, 1 ms apart."""
    names = list(BURST_FEEDS)
    now = datetime.now(timezone.utc)
    events = []
    for i in range(count):
        name = names[i % len(names)]
        art = make_article(i, BURST_FEEDS[name], now + timedelta(milliseconds=i))
        events.append((name, art["url"], event_body(art, f"bench-evt-{art['id']}-v1")))
    return events


def wait_fresh(ctx, events, sent, timeout: float) -> tuple[dict[str, int], dict[str, float], float]:
    """Watch for each feed's last accepted event in its stored bytes: (last, seen at, all applied at)."""
    r, keys, names = ctx.redis, ctx.keys, list(BURST_FEEDS)
    last: dict[str, int] = {}
    for i, (name, _, _) in enumerate(events):
        if name not in last or sent[i][2] > sent[last[name]][2]:
            last[name] = i
    seen: dict[str, float] = {}
    etags: dict[str, bytes] = {}
    deadline, applied_at = time.time() + timeout, None
    while time.time() < deadline:
        for name in (n for n in names if n not in seen):
            key = keys.feed_rendered(name, "rss")
            etag = r.hget(key, "etag")
            if etag != etags.get(name):  # read the body only when it changed
                etags[name] = etag
                if events[last[name]][1].encode() in (r.hget(key, "body") or b""):
                    seen[name] = time.time()
        if applied_at is None and r.zcard(keys.events_pending) == 0:
            applied_at = time.time()
        if applied_at and len(seen) == len(names):
            return last, seen, applied_at
        time.sleep(0.005)
    raise BenchError(f"burst not drained after {timeout:.0f}s: "
                     f"{r.zcard(keys.events_pending)} events pending, feeds fresh: {sorted(seen)}")


def wait_settled(ctx, timeout: float) -> None:
    """Let the tail of the coalescing finish: no feed dirty, no render queued or running, counts stable."""
    r, keys, names = ctx.redis, ctx.keys, list(BURST_FEEDS)
    deadline = time.time() + timeout
    stable_since, prev = None, None
    while time.time() < deadline:
        busy = r.zcard(keys.feeds_dirty) or any(r.exists(keys.feed_render_lock(n)) for n in names)
        counts = tuple(renders(ctx, n) for n in names)
        if busy or counts != prev:
            stable_since, prev = None, counts
        elif stable_since is None:
            stable_since = time.time()
        elif time.time() - stable_since > ctx.settings.render_window + 0.5:
            return
        time.sleep(0.05)


def applied_times(ctx) -> dict[str, float]:
    """When each event was applied (the events worker logs it in events:log, capped at 1,000 entries)."""
    applied: dict[str, float] = {}
    for raw in ctx.redis.lrange(ctx.keys.events_log, 0, -1):
        entry = json.loads(raw)
        applied.setdefault(entry["event_id"], entry["at"])
    return applied


def burst_row(ctx, name: str, events, sent, last: int, seen: float, t_applied, renders_before: int) -> dict:
    r = ctx.redis
    stats = {k.decode(): v.decode() for k, v in r.hgetall(ctx.keys.feed_stats(name)).items()}
    # The final stored bytes must hold the feed's 50 newest articles: the last 50 events of its category.
    mine = [url for n, url, _ in events if n == name][-50:]
    final = r.hget(ctx.keys.feed_rendered(name, "rss"), "body") or b""
    held = sum(1 for url in mine if f"<link>{url}</link>".encode() in final)
    n_renders = int(stats.get("renders", 0)) - renders_before
    n_events = sum(1 for e in events if e[0] == name)
    t202 = sent[last][2]
    nan = float("nan")  # the events log no longer had it
    return {"feed": name, "category": BURST_FEEDS[name], "events": n_events, "renders": n_renders,
            "per100": 100 * n_renders / n_events, "fresh_ms": (seen - t202) * 1000,
            "to_apply_ms": (t_applied - t202) * 1000 if t_applied else nan,
            "to_feed_ms": (seen - t_applied) * 1000 if t_applied else nan,
            "newest_held": held, "newest_wanted": len(mine),
            "last_render_ms": float(stats.get("last_duration", 0)) * 1000}


def bench_burst(ctx, port: int, args) -> tuple[list[dict], dict]:
    """3. How many renders does a burst of events cost each feed, and how fresh are the feeds after it?"""
    # Steady state first: each feed already holds 50 older articles and has been rendered.
    old = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)
    for name, cat in BURST_FEEDS.items():
        seed_feed(ctx, cat, 50, old, first=100_000)
        render_feed(ctx, name)
    time.sleep(ctx.settings.render_window + 0.1)  # the first burst render need not wait for the window
    before = {n: renders(ctx, n) for n in BURST_FEEDS}

    events = burst_events(args.events)
    sent, t_start = Sender(port).post_all([body for _, _, body in events], threads=args.senders)
    t_sent = time.time()
    last, seen, applied_at = wait_fresh(ctx, events, sent, args.drain_timeout)
    wait_settled(ctx, args.drain_timeout)
    applied = applied_times(ctx)
    event_ids = [json.loads(body)["event_id"] for _, _, body in events]
    rows = [burst_row(ctx, name, events, sent, last[name], seen[name], applied.get(event_ids[last[name]]),
                      before[name]) for name in BURST_FEEDS]
    applied_list = [applied[e] for e in event_ids if e in applied]
    lat = [s[2] - s[1] for s in sent]
    tot_e, tot_r = sum(r["events"] for r in rows), sum(r["renders"] for r in rows)
    info = {"events": len(events), "renders_all_feeds": tot_r, "renders_per100_burst_events": 100 * tot_r / tot_e,
            "send_s": t_sent - t_start, "accept_rps": len(events) / (t_sent - t_start),
            "post_p99_ms": report.quantile(lat, 0.99) * 1000, "applied_s": applied_at - t_start,
            "window": ctx.settings.render_window, "senders": args.senders,
            "statuses": sorted({s[0] for s in sent}),
            "apply_rps": (len(applied_list) - 1) / (max(applied_list) - min(applied_list))
            if len(applied_list) > 1 else float("nan")}
    return rows, info


# --------------------------------------------------------------------------- report


def render_table(rows: list[dict]):
    t = report.table("1. Render (RENDERERS called directly; realistic cleaned articles)",
                     ("items", "format", "runs", "median ms", "min ms", "× json.dumps", "output bytes"),
                     left=("format",))
    for r in rows:
        base = r["what"].startswith("json.dumps")
        t.add_row(str(r["items"]), r["what"], str(r["runs"]), f"{r['median_ms']:.2f}", f"{r['min_ms']:.2f}",
                  "1.00" if base else f"{r['ratio']:.1f}", f"{r['bytes']:,}", style="dim" if base else None)
    t.caption = (f"articles: ~{rows[0]['body_bytes']:,} B cleaned HTML body, 1 image, 2 categories; "
                 "baseline = json.dumps(articles) of the same list, same run")
    return t


def serve_table(rows: list[dict], info: dict, args):
    t = report.table(f"2. Serve {info['path']} through the API ({args.client}, {args.connections} connections, "
                     f"{args.rounds} interleaved rounds × {info['per_round']:g} s per scenario)",
                     ("scenario", "resp/s", "× baseline", "× by CPU", "p50 ms", "p99 ms", "B/resp", "bad", "spread",
                      "API core", "API µs", "redis µs", "client µs"), left=("scenario",),
                     no_wrap=("scenario", "× baseline", "× by CPU"))
    for r in rows:
        client = "-" if r["client_cpu_us"] != r["client_cpu_us"] else f"{r['client_cpu_us']:.0f}"
        t.add_row(r["label"], f"{r['rps']:,.0f}", f"{r['ratio']:.2f}", f"{r['cpu_ratio']:.2f}", f"{r['p50_ms']:.2f}",
                  f"{r['p99_ms']:.2f}",
                  f"{r['bytes_per_resp']:,.0f}", str(r["errors"] + r["unexpected"]), f"{100 * r['spread']:.0f}%",
                  f"{r['api_cpu_pct']:.0f}%", f"{r['api_cpu_us']:.0f}", f"{r['redis_cpu_us']:.0f}", client,
                  style="dim" if r["baseline"] is None else None)
    t.caption = (f"feed: 50 full-text items, {info['plain_bytes']:,} B plain, {info['gzip_bytes']:,} B "
                 f"gzip (pre-rendered in {info['render_ms']:.0f} ms). Baselines: {info['static_200']} and "
                 f"{info['static_304']} on the same API process answer first (benchmarks/harness/static_baseline.py) "
                 "with the feed's own recorded 200 and 304 (status, headers, bytes), so × baseline = the feed's rate / "
                 "the same server's rate for the same response without any work; × by CPU = the baseline's API CPU "
                 "per response / this row's (the same comparison, steadier when other processes share the cores); "
                 "(c) is a FastAPI route (thread pool), as ratios of the static 304. p50 = median of rounds, p99 = worst "
                 "round; spread = (max-min)/mean of the rounds' rates; B/resp = bytes per response, with headers "
                 "(wrk) or body only (python client); API core = share of one core the API process used; "
                 "API/redis/client µs = CPU time (user+sys) of that process per response; bad = socket errors "
                 "and unexpected statuses")
    return t


def burst_table(rows: list[dict], info: dict):
    t = report.table(f"3. Burst of {info['events']:,} events over 3 feeds (render window {info['window']:g} s; "
                     f"{info['pools']})",
                     ("feed", "events", "renders", "renders per 100 events", "freshness ms", "202→applied ms",
                      "applied→in feed ms", "last render ms", "newest 50 stored"), left=("feed",), no_wrap=("feed",))
    fmt = lambda v: "?" if v != v else f"{v:,.0f}"  # noqa: E731 (nan: the events log no longer had it)
    for r in rows:
        t.add_row(f"{r['feed']} ({r['category']})", str(r["events"]), str(r["renders"]), f"{r['per100']:.1f}",
                  fmt(r["fresh_ms"]), fmt(r["to_apply_ms"]), fmt(r["to_feed_ms"]), f"{r['last_render_ms']:.0f}",
                  f"{r['newest_held']}/{r['newest_wanted']}")
    tot_e, tot_r = sum(r["events"] for r in rows), sum(r["renders"] for r in rows)
    t.add_row("all feeds, whole burst", str(tot_e), str(tot_r), f"{100 * tot_r / tot_e:.1f}", "", "", "", "", "",
              style="bold")
    t.caption = (f"POSTed in {info['send_s']:.1f} s ({info['accept_rps']:,.0f} events/s accepted by "
                 f"{info['senders']} threads, POST p99 {info['post_p99_ms']:.0f} ms, statuses "
                 f"{info['statuses']}); applied at {info['apply_rps']:,.0f} events/s, all "
                 f"{info['applied_s']:.1f} s after the first POST. freshness = the feed's last event's 202 "
                 "-> its article in the feed's stored bytes (= 202→applied + applied→in feed). "
                 "renders counted from feed:<name>:stats 'renders', minus the count before the burst. renders per "
                 "100 events: a feed's row = its renders per 100 of its own events (each event is in exactly one "
                 "feed); the last row = the renders of all feeds per 100 events of the whole burst")
    return t


# --------------------------------------------------------------------------- main


def reproduce_command(args) -> str:
    return report.reproduce_command("benchmarks/feeds.py", [
        "--duration", f"{args.duration:g}", "--rounds", str(args.rounds), "--connections", str(args.connections),
        "--client", args.client, "--client-threads", str(args.client_threads), "--events", str(args.events),
        "--senders", str(args.senders), "--render-window", f"{args.render_window:g}",
        "--runs-small", str(args.runs_small), "--runs-large", str(args.runs_large),
        *([] if args.aof else ["--no-aof"])])


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
    p.add_argument("--aof", action=argparse.BooleanOptionalAction, default=True,
                   help="Redis with AOF everysec, as production (default); --no-aof: no persistence, to compare")
    p.add_argument("--drain-timeout", type=float, default=90.0, help="seconds to wait for the burst to apply")
    p.add_argument("--json", metavar="PATH", help="also write every figure to PATH as JSON")
    p.add_argument("--keep-logs", action="store_true", help="keep the process logs (printed path)")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0 or args.connections < 1 or args.events < 3:
        p.error("--rounds, --duration and --connections must be positive, --events at least 3")
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "python"
    elif args.client == "wrk" and not shutil.which("wrk"):
        p.error("--client wrk: wrk is not on PATH (apt-get install -y wrk), or use --client python")
    return args


def run(args, procs: processes.Processes, logdir: Path) -> int:
    out = report.console(160)
    started = time.time()
    m = report.machine(args.client)
    out.print("[dim]1/3 render …[/dim]")
    render_rows = bench_render(args.runs_small, args.runs_large)

    redis_url, redis = processes.start_redis(procs, logdir, args.aof)
    api_port = processes.free_port()
    write_feeds_file(logdir / "feeds.yaml")
    env = processes.service_env(redis_url, api_port, KEY_PREFIX, {
        "SYNDICATION_FEEDS_FILE": str(logdir / "feeds.yaml"), "SYNDICATION_RENDER_WINDOW": repr(args.render_window)})
    ctx = processes.service_context(env)
    api = procs.start(processes.api_static_baseline_proc(env, api_port, logdir,
                                                         {STATIC_200: SERVE_PATH, STATIC_304: SERVE_PATH}))
    processes.wait_api(api, api_port, 30)

    out.print(f"[dim]2/3 serve ({args.client}) …[/dim]")
    serve_rows, serve_info = bench_serve(ctx, api_port, args, {"api": api.pid, "redis": redis.pid})

    out.print("[dim]3/3 burst …[/dim]")
    # The events and feeds workers as `syndication up` starts them (at log level info, to see " ready.").
    specs = [s for s in processes.worker_specs(env) if s.queue in ("events", "feeds")]
    workers = [procs.start(processes.spec_proc(s, env, logdir, loglevel="info")) for s in specs]
    for w in workers:
        w.wait_log(" ready.", timeout=60)
    burst_rows, burst_info = bench_burst(ctx, api_port, args)
    burst_info["pools"] = ", ".join(f"{s.name} worker {processes.pool_of(s)}" for s in specs)
    for proc in procs.procs:
        proc.alive()

    persistence = "AOF: appendonly yes, appendfsync everysec, as production" if args.aof else "no persistence"
    report.print_header(out, "syndication feed benchmarks", m, f" ({persistence})  {m['client']}",
                        reproduce_command(args), processes.commands([api, *workers]), inside=[
                            f"Redis {persistence}, inside every figure of sections 2 and 3",
                            f"serving baselines = {STATIC_200} and {STATIC_304} on the same API process (the feed's "
                            "recorded answers, replayed by benchmarks/harness/static_baseline.py), not /healthz"])
    for t in (render_table(render_rows), serve_table(serve_rows, serve_info, args), burst_table(burst_rows, burst_info)):
        out.print(t)
    report.print_footer(out, started)
    report.write_json(args.json, {"benchmark": "feeds", "machine": m, "reproduce": reproduce_command(args),
                                  "redis_aof": args.aof, "render": render_rows, "serve": {"rows": serve_rows, "info": serve_info},
                                  "burst": {"rows": burst_rows, "info": burst_info}})
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return processes.run_guarded("syndication-bench-", args.keep_logs, lambda procs, logdir: run(args, procs, logdir))


if __name__ == "__main__":
    sys.exit(main())
