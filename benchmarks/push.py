#!/usr/bin/env python
"""Partner push benchmark: end-to-end deliveries/s against a raw HTTP ceiling, and publish-to-push latency.

Run from the repository root (about 2-3 minutes; under 4 on a noisy 2-core box):

    .venv/bin/python benchmarks/push.py            # defaults: 1, 10 and 50 partners
    .venv/bin/python benchmarks/push.py --quick    # about 1 minute: smaller cases, shorter ceiling and latency runs
    .venv/bin/python benchmarks/push.py --help     # event counts, latency rate, worker concurrency, ...

It needs `redis-server` on PATH (`apt-get install -y redis-server`). Like benchmarks/feeds.py it
starts its own throwaway `redis-server` on a free port (never 6379) with AOF as production runs
it (`appendonly yes`, `appendfsync everysec`; `--no-aof` to compare without), and the real
service against it, as `syndication up` runs it:

    python -m syndication.cli api                                         (uvicorn)
    python -m celery -A workers worker -Q events     -P threads -c 4 -E
    python -m celery -A workers worker -Q feeds      -P threads -c 2 -E
    python -m celery -A workers worker -Q deliveries -P threads -c 8 -E
    python -m celery -A workers beat

(workers at log level `warning`, as `syndication up` and docker-compose run them), plus a *fast
partner*: a minimal HTTP/1.1 keep-alive server (asyncio, uvloop when installed) in its own
process (`python -m benchmarks.harness.partner`) that answers every POST with 200 at once and records the time and `webhook-id` of
each request. Everything listens on and talks to 127.0.0.1 only; every process it started is
stopped when it exits (also on Ctrl-C or an error).

It prints the machine, the exact command that reproduces the run, and four tables:

1. Ceiling: a plain `requests.Session` keep-alive POST loop, in one separate process, of the
   same ~4.5 kB JSON body (and headers, with a fixed `webhook-signature` of the real length:
   the loop signs nothing) the service pushes, to the same fast partner server; measured before
   and after the end-to-end cases, their mean is the ceiling.
2. End to end, with 1, 10 and 50 partners (all `format: json`, `auth: standard-webhooks` with
   one random `whsec_` secret per run given to the service in the environment variable
   BENCH_WEBHOOK_SECRET, so every push is signed inside the measured cost; no filters,
   `allow_private_network: true`, each pointing at the fast server under its own path): events
   (one new article each, ~3.4 kB HTML body) are POSTed to /v1/events as fast as 4 threads
   can; deliveries/s = events x partners / (first POST -> last push received), and that as a
   ratio of the ceiling (the project's goal: >= 0.70). Each case runs on a fresh service (new
   partners file, Redis flushed) after a small warm-up. Also: when the last POST was answered
   and the last event applied, push tasks run and deliveries per task (from Celery's task
   events), duplicates received, Redis commands per delivery (by command, INFO commandstats),
   and what limited the case. Every push must carry a signature, and the first of each case is
   verified against the secret (HMAC-SHA256 computed here, not with the service's code).
3. Where the CPU went in each case: CPU (user+sys, from /proc/<pid>/stat) of every process over
   the case, as a share of one core, its peak 1-second share and CPU ms per delivery, and the
   whole machine's busy share (/proc/stat; "other" = CPU used by processes not started here).
   A Python process at ~100% of one core is saturated (the GIL); that, or all cores busy, is
   what limits a case.
4. Latency: with 1 partner, events POSTed one at a time at a fixed rate (20/s for 15 s by
   default): from the 202 of POST /v1/events to the partner receiving the push (p50/p90/p99/
   max, matched by `webhook-id`), split at the delivery record's creation (202 -> applied and
   fanned out; created -> received; the records are read through GET /v1/deliveries).

Usage examples:

    .venv/bin/python benchmarks/push.py --cases 10:300            # one case: 10 partners, 300 events
    .venv/bin/python benchmarks/push.py --deliveries-concurrency 16 --no-aof   # without persistence
    .venv/bin/python benchmarks/push.py --latency-seconds 0 --keep-logs   # no latency run; keep the logs
    .venv/bin/python benchmarks/push.py --quick --json push.json          # the figures as JSON too

--quick (cases 1:200,10:30, ceiling 2 s, latency 5 s, 5 warm-up events) checks the whole path
end to end; its ratios are noisier than a full run's. Options given with it win.

Ratios are what to compare across machines and commits; absolute numbers depend on the
machine and on what else it is doing (the load average at the start is printed).

This script holds the four questions; processes, the fast partner, CPU sampling, Redis and
Celery counters and the report come from the shared harness, benchmarks/harness/.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import HOST, OPS_KEY, BenchError, load, processes, report  # noqa: E402 (needs ROOT)
from benchmarks.harness.articles import article_body, event_body, make_article  # noqa: E402
from benchmarks.harness.cpu import CpuSampler, cpu_seconds  # noqa: E402
from benchmarks.harness.partner import Partner, start_partner  # noqa: E402
from benchmarks.harness.processes import EVENTS_POOL, FEEDS_POOL  # noqa: E402
from benchmarks.harness.publish import Sender  # noqa: E402
from benchmarks.harness.redis_stats import RedisCommands  # noqa: E402
from benchmarks.harness.tasks import TaskCounter  # noqa: E402

KEY_PREFIX = "benchpush:"
BODY_TARGET = 3400  # bytes of article HTML: the json push body is then ~4.5 kB
CATEGORY = "Economy"
DEFAULT_CASES = "1:2000,10:300,50:60"
QUICK = {"cases": "1:200,10:30", "ceiling_seconds": 2.0, "latency_seconds": 5.0, "warmup": 5}
COLUMNS = ("api", "events", "deliveries", "feeds", "beat", "redis", "partner", "driver")  # table 3, in order
SECRET_ENV = "BENCH_WEBHOOK_SECRET"  # the partners' standard-webhooks secret, for the service's processes only


# =========================================================================== events and partners


def partner_ids(n: int) -> list[str]:
    return [f"p{i:03d}" for i in range(n)]


def write_partners_file(path: Path, n: int, partner: Partner) -> None:
    import yaml

    entries = [{"id": pid, "url": partner.url(pid), "format": "json",
                "auth": {"type": "standard-webhooks", "secret_env": SECRET_ENV}, "allow_private_network": True}
               for pid in partner_ids(n)]
    path.write_text(yaml.safe_dump({"partners": entries}, sort_keys=False))


def new_secret() -> str:
    """A random Standard Webhooks secret for this run (never printed)."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks v1 signature, computed here from the spec (not with the service's code)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def check_signed(partner: Partner, stats: dict, secret: str, what: str) -> None:
    """Every push of `what` carried a signature, and the first one verifies against the run's secret."""
    if stats["signed"] != stats["total"]:
        raise BenchError(f"{what}: {stats['total'] - stats['signed']} of {stats['total']} pushes were not signed")
    sample = partner.sample()
    if sample is None:
        raise BenchError(f"{what}: the partner kept no signed push to verify")
    want = signature(secret, sample["id"], sample["timestamp"], sample["body"])
    if want not in sample["signature"].split():
        raise BenchError(f"{what}: the signature of push {sample['id']} does not verify against the run's secret")


def make_event(run: str, i: int, published: datetime) -> tuple[str, bytes]:
    art = make_article(i, CATEGORY, published)
    art["id"] = f"{run}-{i:05d}"  # unique per run: every case's events are new articles
    art["url"] = f"https://news.example/en/economy/{art['id']}"
    art["body_html"] = article_body(i, target=BODY_TARGET)
    return art["id"], event_body(art, f"evt-{art['id']}-v1")


def push_body_like_the_service(event: bytes) -> bytes:
    """The json-format push body the deliveries worker sends for this event (for the ceiling loop)."""
    from syndication.partners.formats import PUSH_FORMATS, Push
    from syndication.text import clean_article

    ev = json.loads(event)
    art = ev["article"]
    # An id of the service's shape (msg_ + 26 hex digits): only its length matters here.
    push = Push(delivery_id="msg_" + "0" * 26, event_id=ev["event_id"], event_type=ev["type"],
                article_id=art["id"], version=1, article=clean_article(art), withdrawn=False)
    return PUSH_FORMATS["json"].render(push, base_url="http://127.0.0.1")


def delivery_records(port: int, article_ids: list[str]) -> dict[str, list[dict]]:
    """Each article's delivery records, through the API (GET /v1/deliveries, the ops key)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    out = {}
    for aid in article_ids:
        conn.request("GET", f"/v1/deliveries?article_id={aid}", headers={"Authorization": f"Bearer {OPS_KEY}"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise BenchError(f"GET /v1/deliveries?article_id={aid}: {resp.status} {data[:200]!r}")
        out[aid] = json.loads(data)["deliveries"]
    conn.close()
    return out


# =========================================================================== the service


class Service:
    """One fresh service (API, 3 workers, beat) for one partners file; stopped on exit."""

    def __init__(self, procs: processes.Processes, redis_url: str, partner: Partner, n_partners: int,
                 logdir: Path, args, secret: str):
        self.procs_all, self.partner, self.n, self.secret = procs, partner, n_partners, secret
        tag = f"p{n_partners}"
        self.api_port = processes.free_port()
        partners_file = logdir / f"partners-{n_partners}.yaml"
        write_partners_file(partners_file, n_partners, partner)
        env = processes.service_env(redis_url, self.api_port, KEY_PREFIX, {
            "SYNDICATION_PARTNERS_FILE": str(partners_file), "SYNDICATION_OPS_KEYS": OPS_KEY, SECRET_ENV: secret})

        def worker(queue: str, pool: list[str]) -> processes.Proc:
            return processes.worker_proc(queue, pool, env, logdir, node="pushbench", name=f"{tag}-worker-{queue}",
                                         loglevel=args.loglevel, task_events=True)

        self.procs = {  # as `syndication up` runs them
            "api": processes.api_proc(env, self.api_port, logdir, name=f"{tag}-api"),
            "events": worker("events", EVENTS_POOL),
            "feeds": worker("feeds", FEEDS_POOL),
            "deliveries": worker("deliveries", ["-P", "threads", "-c", str(args.deliveries_concurrency)]),
            "beat": processes.beat_proc(env, logdir, f"{tag}-beat", args.loglevel),
        }
        self.ctx = processes.service_context(env)

    def __enter__(self) -> Service:
        self.ctx.redis.flushdb()
        for p in self.procs.values():
            self.procs_all.start(p)
        processes.wait_api(self.procs["api"], self.api_port, 60)
        return self

    def __exit__(self, *exc) -> None:
        self.procs_all.stop(self.procs.values())

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items()}

    def alive(self) -> None:
        for p in self.procs.values():
            p.alive()
        self.partner.proc.alive()

    def busy(self) -> dict:
        r, k = self.ctx.redis, self.ctx.keys
        pipe = r.pipeline(transaction=False)
        pipe.zcard(k.events_pending)
        for pid in partner_ids(self.n):
            pipe.zcard(k.partner_due(pid))
            pipe.zcard(k.partner_inflight(pid))
        vals = pipe.execute()
        return {"events_pending": vals[0], "due": sum(vals[1::2]), "inflight": sum(vals[2::2])}

    def wait_received(self, want: int, timeout: float, what: str) -> tuple[float, dict]:
        """Until the partner has `want` deliveries and no event is pending: (when all were applied, its stats)."""
        deadline = time.time() + timeout
        t_applied = None
        while True:
            if t_applied is None and self.ctx.redis.zcard(self.ctx.keys.events_pending) == 0:
                t_applied = time.time()
            st = self.partner.stats()
            if st["unique"] >= want and t_applied is not None:
                return t_applied, st
            if time.time() > deadline:
                raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}: the partner has "
                                 f"{st['unique']} of {want} deliveries; service: {self.busy()}; "
                                 f"last lines of the deliveries worker log:\n{self.procs['deliveries'].tail(10)}")
            self.alive()
            time.sleep(0.01)

    def warm_up(self, run: str, n_events: int) -> None:
        """A few events through the whole path; also proves every process is up (feeds worker, beat)."""
        base = datetime.now(UTC) - timedelta(hours=1)
        bodies = [make_event(f"{run}w", i, base + timedelta(seconds=i))[1] for i in range(n_events)]
        self.partner.reset()
        Sender(self.api_port).post_all(bodies, threads=2)
        _, st = self.wait_received(n_events * self.n, 90, "the warm-up pushes")
        check_signed(self.partner, st, self.secret, "the warm-up")
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


# =========================================================================== the questions


def measure_ceiling(partner: Partner, body_file: Path, headers_file: Path, seconds: float) -> dict:
    """1. How many pushes/s can a plain Python client send the fast partner (the ceiling)?"""
    partner.reset()
    cpu0 = cpu_seconds(partner.proc.pid)
    t0 = time.time()
    res = load.run_post_loop(partner.port, body_file, seconds, headers_file)
    wall = time.time() - t0
    res["server_received"] = partner.stats()["total"]
    res["server_cpu_pct"] = 100 * (cpu_seconds(partner.proc.pid) - cpu0) / wall  # incl. warm-up and start-up
    res["client_cpu_pct"] = 100 * res["client_cpu"] / res["elapsed"]
    return res


def run_case(svc: Service, sampler: CpuSampler, tasks: TaskCounter, events: int, args, pids: dict) -> dict:
    """2 and 3. How many deliveries/s end to end with this many partners, and where did the CPU go?"""
    run = f"b{uuid.uuid4().hex[:6]}"
    base = datetime.now(UTC) - timedelta(minutes=30)
    bodies = [make_event(run, i, base + timedelta(milliseconds=i))[1] for i in range(events)]
    want = events * svc.n
    r = svc.ctx.redis
    cmds0 = RedisCommands.now(r)
    tasks.start()
    sampler.start(pids)
    results, t_first = Sender(svc.api_port).post_all(bodies, threads=args.senders)
    t_posted = max(x[2] for x in results)
    try:
        t_applied, st = svc.wait_received(want, args.case_timeout, f"the {svc.n}-partner case")
    finally:
        sampler.stop()
    check_signed(svc.partner, st, svc.secret, f"the {svc.n}-partner case")
    t_last = st["last_new"]
    cmds = cmds0.since(r)
    task_counts = tasks.stop()
    elapsed = t_last - t_first
    secs, cpu = sampler.window(t_first, t_last)
    # The drain: after the last event was applied, only pushes are left.
    drain_secs, drain_cpu = sampler.window(t_applied, t_last) if t_last - t_applied > 1.0 else (0.0, {})
    svc.wait_quiet()
    return {
        "partners": svc.n, "events": events, "deliveries": want, "elapsed": elapsed, "rate": want / elapsed,
        "posted_s": t_posted - t_first, "accept_rps": events / (t_posted - t_first),
        "applied_s": t_applied - t_first, "last_s": elapsed, "received": st["total"], "signed": st["signed"], "unique": st["unique"],
        "dupes": st["total"] - st["unique"], "bytes_per_push": st["bytes"] / max(st["total"], 1),
        "connections": st["connections"], "paths": st["paths"],
        "redis_cmds_per_delivery": cmds.total / want, "cpu_secs": secs, "cpu": cpu,
        "peak": {name: sampler.peak(name, t_first, t_last) for name in pids},
        "drain_secs": drain_secs, "drain_cpu": drain_cpu, "tasks": task_counts, "task_delivered": tasks.delivered,
        "by_command": cmds.by_command,
    }


def run_latency(svc: Service, rate: float, seconds: float) -> dict:
    """4. How long from an event's 202 to its push arriving, when events come one at a time?"""
    run = f"l{uuid.uuid4().hex[:6]}"
    n = max(1, int(rate * seconds))
    base = datetime.now(UTC) - timedelta(minutes=10)
    events = [make_event(run, i, base + timedelta(milliseconds=i)) for i in range(n)]
    pid = partner_ids(svc.n)[0]
    svc.partner.reset()
    sent = Sender(svc.api_port).post_paced([b for _, b in events], rate)
    svc.wait_received(n * svc.n, 60, "the latency pushes")
    got: dict[str, float] = {}
    for t, wid in svc.partner.log():  # webhook-id = delivery id
        got.setdefault(wid, t)
    records = delivery_records(svc.api_port, [aid for aid, _ in events])
    total, to_created, to_received = [], [], []
    for (aid, _), (_, _, t202) in zip(events, sent):
        rec = next((x for x in records[aid] if x["partner"] == pid), None)
        if rec is None:
            raise BenchError(f"no delivery record of {aid} to {pid}")
        t_recv = got[rec["id"]]
        total.append(t_recv - t202)
        to_created.append(rec["created_at"] - t202)
        to_received.append(t_recv - rec["created_at"])
    span = sent[-1][1] - sent[0][1]

    def q(xs):
        return {"p50": report.quantile(xs, 0.5), "p90": report.quantile(xs, 0.9),
                "p99": report.quantile(xs, 0.99), "max": max(xs)}

    return {"events": n, "rate": rate, "achieved_rate": (n - 1) / span if span > 0 else float("nan"),
            "total": q(total), "to_created": q(to_created), "to_received": q(to_received),
            "post": q([s[2] - s[1] for s in sent])}


def run_cases(args, procs, redis_url: str, redis_pid: int, partner: Partner, logdir: Path, out, secret: str):
    """Each case on a fresh service; the latency run on the first 1-partner service (or one of its own)."""
    sampler, tasks = CpuSampler(), TaskCounter(redis_url)
    cases, latency, commands = [], None, []
    for n_partners, n_events in args.case_list:
        out.print(f"[dim]{n_partners} partner(s), {n_events} events …[/dim]")
        with Service(procs, redis_url, partner, n_partners, logdir, args, secret) as svc:
            svc.warm_up(f"w{n_partners}", args.warmup)
            pids = {**svc.pids, "redis": redis_pid, "partner": partner.proc.pid, "driver": os.getpid()}
            cases.append(run_case(svc, sampler, tasks, n_events, args, pids))
            if n_partners == 1 and args.latency_seconds > 0 and latency is None:
                out.print(f"[dim]latency ({args.latency_rate:g}/s for {args.latency_seconds:g} s) …[/dim]")
                latency = run_latency(svc, args.latency_rate, args.latency_seconds)
            commands = commands or processes.commands(svc.procs.values())
    if args.latency_seconds > 0 and latency is None:
        out.print(f"[dim]latency ({args.latency_rate:g}/s for {args.latency_seconds:g} s) …[/dim]")
        with Service(procs, redis_url, partner, 1, logdir, args, secret) as svc:
            svc.warm_up("wl", args.warmup)
            latency = run_latency(svc, args.latency_rate, args.latency_seconds)
    return cases, latency, commands


# =========================================================================== report


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


def ceiling_table(ceilings: list[dict], ceiling: float, body_bytes: int, flavour: str):
    t = report.table("1. Ceiling: a plain requests.Session keep-alive POST loop (1 process) -> the fast partner",
                     ("when", "POST/s", "requests", "seconds", "client core", "client ms/POST", "server core", "bad"),
                     left=("when",))
    for label, c in zip(("before the cases", "after the cases"), ceilings):
        bad = c["errors"] + abs(c["requests"] + 50 - c["server_received"])  # + the loop's 50 warm-up POSTs
        t.add_row(label, f"{c['rps']:,.0f}", f"{c['requests']:,}", f"{c['elapsed']:.1f}",
                  f"{c['client_cpu_pct']:.0f}%", f"{1000 * c['client_cpu'] / c['requests']:.2f}",
                  f"{c['server_cpu_pct']:.0f}%", str(bad))
    t.add_row("ceiling (mean)", f"{ceiling:,.0f}", "", "", "", "", "", "", style="bold")
    t.caption = (f"body: the service's json push body of one benchmark article, {body_bytes:,} B, with the service's "
                 f"headers (webhook-signature fixed: the loop signs nothing); partner server: asyncio ({flavour}), its own process. client/server core = share of one "
                 "core used by the loop / the server (server: incl. warm-up); bad = errors + requests the server "
                 "did not count")
    return t


def cases_table(cases: list[dict], ceiling: float, args):
    t = report.table("2. End to end: POST /v1/events -> API -> events worker -> deliveries worker -> fast partner "
                     "(pushes signed: standard-webhooks; Redis AOF everysec)" if args.aof else
                     "2. End to end: POST /v1/events -> API -> events worker -> deliveries worker -> fast partner "
                     "(pushes signed: standard-webhooks; Redis without persistence)",
                     ("partners", "events", "deliveries", "seconds", "deliveries/s", "× ceiling", "last 202", "202/s",
                      "all applied", "last push", "push tasks", "per task", "dupes", "redis cmds"),
                     no_wrap=("deliveries/s", "× ceiling"))
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
    return t


def case_limits(cases: list[dict], nproc: int) -> list[str]:
    lines = []
    for c in cases:
        top = sorted(c["by_command"].items(), key=lambda kv: -kv[1])[:8]
        lines.append(f"   {c['partners']:>2} partner(s): limited by {limit_of(c, nproc)}; Redis commands per "
                     "delivery: " + ", ".join(f"{k} {v / c['deliveries']:.1f}" for k, v in top if v > 0))
    return lines


def _cpu_rows(t, c: dict) -> None:
    """One case's rows of table 3: share of a core, peak second, ms per delivery, and the drain."""
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


def cpu_table(cases: list[dict], ceilings: list[dict], nproc: int):
    t = report.table("3. CPU by process over each case (first POST -> last push received)",
                     ("partners", "", *COLUMNS, "all listed", "machine", "other"), left=("",))
    for i, c in enumerate(cases):
        _cpu_rows(t, c)
        if i < len(cases) - 1:
            t.add_section()
    t.caption = (f"core = CPU time (user+sys, all threads, /proc/<pid>/stat) / wall time: 100% = one core busy; "
                 f"peak 1 s = highest share over any second; ms/delivery = CPU ms per delivery; drain = from the "
                 f"last event applied to the last push (only pushes left; shown when over 1 s). machine = all "
                 f"{nproc} cores' busy time (/proc/stat, max {100 * nproc}%); other = machine minus the processes "
                 "listed (anything else running, kernel). A Python process cannot go much past 100% (the GIL): at "
                 "~100% it is the bottleneck; the ceiling loop needs "
                 f"{1000 * statistics.mean(x['client_cpu'] / x['requests'] for x in ceilings):.2f} ms per POST")
    return t


def latency_table(latency: dict):
    t = report.table(f"4. Publish-to-push latency: 1 partner, {latency['events']} events at {latency['rate']:g}/s "
                     f"(achieved {latency['achieved_rate']:.1f}/s), one at a time",
                     ("interval", "p50 ms", "p90 ms", "p99 ms", "max ms"), left=("interval",))
    for label, key in (("202 -> push received", "total"), ("  202 -> delivery created (applied)", "to_created"),
                       ("  delivery created -> push received", "to_received"), ("POST /v1/events round trip", "post")):
        qs = latency[key]
        t.add_row(label, *(f"{1000 * qs[k]:.1f}" for k in ("p50", "p90", "p99", "max")),
                  style="bold" if key == "total" else None)
    t.caption = ("202 = the driver has read the API's answer; received = the partner server has parsed the "
                 "request; created = created_at of the delivery record (written by the events worker's fan-out)")
    return t


# =========================================================================== main


def reproduce_command(args) -> str:
    opts = ["--cases", args.cases, "--senders", str(args.senders), "--ceiling-seconds", f"{args.ceiling_seconds:g}",
            "--latency-rate", f"{args.latency_rate:g}", "--latency-seconds", f"{args.latency_seconds:g}",
            "--warmup", str(args.warmup), "--deliveries-concurrency", str(args.deliveries_concurrency),
            "--loglevel", args.loglevel]
    return report.reproduce_command("benchmarks/push.py", opts + ([] if args.aof else ["--no-aof"]))


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
    p.add_argument("--aof", action=argparse.BooleanOptionalAction, default=True,
                   help="Redis with AOF everysec, as production (default); --no-aof: no persistence, to compare")
    p.add_argument("--case-timeout", type=float, default=150.0,
                   help="seconds a case may take after its last POST (default 150)")
    p.add_argument("--quick", action="store_true",
                   help="a short end-to-end check (about a minute): --cases 1:200,10:30 --ceiling-seconds 2 "
                        "--latency-seconds 5 --warmup 5; options given explicitly still win")
    p.add_argument("--json", metavar="PATH", help="also write every figure to PATH as JSON")
    p.add_argument("--keep-logs", action="store_true", help="keep the process logs (printed path)")
    if p.parse_args(argv).quick:
        p.set_defaults(**QUICK)  # new defaults: options given explicitly still win
    args = p.parse_args(argv)
    try:
        args.case_list = parse_cases(args.cases)
    except ValueError:
        p.error(f"--cases: expected PARTNERS:EVENTS[,PARTNERS:EVENTS...], got {args.cases!r}")
    if args.senders < 1 or args.ceiling_seconds <= 0 or args.latency_rate <= 0 or args.warmup < 1:
        p.error("--senders, --ceiling-seconds, --latency-rate and --warmup must be positive")
    return args


def run(args, procs: processes.Processes, logdir: Path) -> int:
    out = report.console(160)
    started = time.time()
    m = report.machine("python")
    redis_url, redis = processes.start_redis(procs, logdir, args.aof)
    partner = start_partner(procs, logdir)
    secret = new_secret()
    sample_body = push_body_like_the_service(make_event("ceil", 0, datetime.now(UTC))[1])
    body_file = logdir / "push-body.json"
    body_file.write_bytes(sample_body)
    # The ceiling loop sends the signature header too (the bytes on the wire), fixed: it signs nothing.
    headers_file = logdir / "push-headers.json"
    headers_file.write_text(json.dumps({"webhook-signature": signature(secret, "msg_" + "0" * 26, "0", sample_body)}))

    out.print(f"[dim]ceiling ({args.ceiling_seconds:g} s) …[/dim]")
    ceilings = [measure_ceiling(partner, body_file, headers_file, args.ceiling_seconds)]
    cases, latency, commands = run_cases(args, procs, redis_url, redis.pid, partner, logdir, out, secret)
    out.print(f"[dim]ceiling again ({args.ceiling_seconds:g} s) …[/dim]")
    ceilings.append(measure_ceiling(partner, body_file, headers_file, args.ceiling_seconds))

    ceiling, nproc = statistics.mean(c["rps"] for c in ceilings), int(m["nproc"])
    persistence = "AOF: appendonly yes, appendfsync everysec, as production" if args.aof else "no persistence"
    report.print_header(out, "syndication push benchmark", m, f" ({persistence})", reproduce_command(args), commands,
                        inside=[f"Redis {persistence}, inside every end-to-end figure",
                                f"every push signed (partners: format json, auth: standard-webhooks, a random "
                                f"whsec_ secret per run in ${SECRET_ENV}), signing inside the end-to-end figures; "
                                "signatures counted at the partner and the first of each case verified; the ceiling "
                                "loop sends a fixed signature header of the same length and signs nothing"])
    out.print(ceiling_table(ceilings, ceiling, len(sample_body), partner.flavour))
    out.print(cases_table(cases, ceiling, args))
    for line in case_limits(cases, nproc):
        out.print(line, soft_wrap=True, markup=False)
    out.print(cpu_table(cases, ceilings, nproc))
    if latency:
        out.print(latency_table(latency))
    report.print_footer(out, started)
    report.write_json(args.json, {"benchmark": "push", "machine": m, "reproduce": reproduce_command(args),
                                  "redis_aof": args.aof, "signed": "standard-webhooks",
                                  "ceilings": ceilings, "ceiling": ceiling, "cases": cases, "latency": latency})
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return processes.run_guarded("syndication-pushbench-", args.keep_logs,
                                 lambda procs, logdir: run(args, procs, logdir))


if __name__ == "__main__":
    sys.exit(main())
