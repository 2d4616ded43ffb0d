"""The push benchmark's sections, each on fresh processes; `run_sections` runs the chosen ones in order.

    ceiling   the raw POST ceiling, 1 and 2 processes (before and after the rest; their mean is used)
    naive     the naive task-per-event baseline with 1, 10 and 50 partners
    service   the service with 1, 10 and 50 partners (the 1-partner burst also times feed freshness)
    latency   publish -> push latency, paced (default 100 events/s x 10 partners)
    proxy     10 partners direct, then with every service process reaching Redis through the delay proxy
    hanging   10 partners all healthy, then one of them hanging: the other 9's throughput and latency

Each result is a plain dict (measure.py), gathered in one document for tables.py and the JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from benchmarks.harness import BenchError, processes
from benchmarks.harness.delay_proxy import start_proxy
from benchmarks.pushbench import measure
from benchmarks.pushbench.targets import Naive, Service
from benchmarks.pushbench.workload import make_event, push_body_like_the_service, signature

SECTIONS = ("ceiling", "naive", "service", "latency", "proxy", "hanging")


class Run:
    """What every section needs: the processes, Redis, the partner, the secret, the options, the output."""

    def __init__(self, args, procs, logdir, redis_url, redis_proc, partner, secret, out):
        self.args, self.procs, self.logdir, self.out = args, procs, logdir, out
        self.redis_url, self.redis_proc, self.partner, self.secret = redis_url, redis_proc, partner, secret
        import redis

        self.redis = redis.Redis.from_url(redis_url)
        self.doc: dict = {"ceiling": {}, "naive": [], "service": [], "latency": None, "proxy": None,
                          "hanging": None, "commands": [], "specs": []}

    def say(self, text: str) -> None:
        self.out.print(f"[dim]{text} …[/dim]")

    def service(self, n: int, tag: str, **kw) -> Service:
        return Service(self.procs, self.redis_url, self.partner, n, self.logdir, self.secret, tag=tag, **kw)

    def pids(self, target, proxy=None) -> dict[str, int]:
        return {**target.pids(), **measure.driver_pids(self.redis_proc.pid, self.partner, proxy)}

    def burst(self, target, events: int, **kw) -> dict:
        url = self.redis_url if isinstance(target, Service) else None
        return measure.burst(target, self.redis, url, events, self.args.senders, self.args.case_timeout,
                             self.pids(target, kw.get("proxy")), **kw)


def ceiling(run: Run, when: str) -> None:
    a = run.args
    body = push_body_like_the_service(make_event("ceil", 0, datetime.now(UTC))[2])
    body_file, headers_file = run.logdir / "push-body.json", run.logdir / "push-headers.json"
    body_file.write_bytes(body)
    # The service's headers (webhook-signature fixed, of the real length: the loop signs nothing).
    headers_file.write_text(json.dumps({"webhook-signature": signature(run.secret, "msg_" + "0" * 26, "0", body),
                                        "User-Agent": "syndication/0.1.0 (+https://github.com/syndication/syndication)"}))
    run.say(f"ceiling {when} (1 and 2 processes, {a.ceiling_seconds:g} s each)")
    run.doc["ceiling"][when] = [measure.ceiling(run.partner, body_file, headers_file, a.ceiling_seconds, k)
                                for k in (1, 2)]
    run.doc["ceiling"]["body_bytes"] = len(body)


def naive(run: Run) -> None:
    db1 = run.redis_url.rsplit("/", 1)[0] + "/1"  # the same throwaway redis-server, its own database
    for n, events in run.args.case_list:
        run.say(f"naive baseline, {n} partner(s), {events} events")
        with Naive(run.procs, db1, run.partner, n, run.logdir, run.secret) as nv:
            nv.warm_up(f"nw{n}", run.args.warmup, run.secret)
            res = run.burst(nv, events)
            res["commands"] = nv.commands()
            run.doc["naive"].append(res)


def service(run: Run, with_latency: bool) -> None:
    for n, events in run.args.case_list:
        run.say(f"service, {n} partner(s), {events} events")
        with run.service(n, f"s{n}") as svc:
            svc.warm_up(f"w{n}", run.args.warmup, run.secret)
            run.doc["commands"] = run.doc["commands"] or svc.commands()
            run.doc["specs"] = [vars(s) for s in svc.specs]
            run.doc["service"].append(run.burst(svc, events, feeds=n == 1))
            if with_latency and n == run.args.latency_partners:
                svc.wait_quiet()
                latency(run, svc)


def latency(run: Run, svc: Service | None = None) -> None:
    a = run.args
    if svc is None:
        with run.service(a.latency_partners, "lat") as svc:
            svc.warm_up("wl", a.warmup, run.secret)
            return latency(run, svc)
    run.say(f"latency, {a.latency_rate:g} events/s x {a.latency_partners} partners for {a.latency_seconds:g} s")
    run.doc["latency"] = measure.paced(svc, a.latency_rate, a.latency_seconds, a.case_timeout)


def proxy(run: Run) -> None:
    """Direct, then through the proxy, back to back (the same burst): on a shared machine the reference
    must be measured next to the case, not minutes earlier."""
    a = run.args
    n, events = 10, a.proxy_events
    port = int(run.redis_url.rsplit(":", 1)[1].split("/")[0])
    run.say(f"Redis direct (the proxy's reference), {n} partners, {events} events")
    with run.service(n, "d") as svc:
        svc.warm_up("wd", a.warmup, run.secret)
        direct = run.burst(svc, events)
    px = start_proxy(run.procs, run.logdir, port, a.proxy_delay_ms)
    try:
        rtt = px.rtt_ms()
        run.say(f"Redis through the delay proxy ({a.proxy_delay_ms:g} ms each way; PING p50 {rtt['p50']:.2f} ms), "
                f"{n} partners, {events} events")
        with run.service(n, "px", service_redis_url=px.url()) as svc:
            svc.warm_up("wpx", a.warmup, run.secret)
            res = run.burst(svc, events, proxy=px)
        run.doc["proxy"] = {"delay_ms": a.proxy_delay_ms, "rtt_ms": rtt, "via_proxy": res, "direct": direct}
    finally:
        run.procs.stop([px.proc])


def hanging(run: Run) -> None:
    """All healthy, then one hanging, back to back (the same burst and paced stream each): on a shared
    machine the reference must be measured next to the case, not minutes earlier."""
    a = run.args
    n, events = a.latency_partners, a.proxy_events
    out = {}
    for label, hang in (("reference", 0), ("hanging", 1)):
        what = "all healthy (the reference)" if not hang else "one hanging (accepts, never answers)"
        run.say(f"isolation, {n} partners, {what}: {events} events, then {a.latency_rate:g} events/s for "
                f"{a.latency_seconds:g} s")
        with run.service(n, f"iso{hang}", hanging=hang) as svc:
            svc.warm_up(f"wi{hang}", a.warmup, run.secret)
            burst = run.burst(svc, events)
            svc.wait_quiet()
            out[label] = (burst, measure.paced(svc, a.latency_rate, a.latency_seconds, a.case_timeout), svc.healthy)
    run.doc["hanging"] = {"partners": n, "healthy": out["hanging"][2], "burst": out["hanging"][0],
                          "paced": out["hanging"][1], "reference_burst": out["reference"][0],
                          "reference_paced": out["reference"][1]}


def run_sections(run: Run, chosen: list[str]) -> dict:
    """Each chosen section in order. A section that fails (BenchError: a timeout, a process that died,
    a push not signed) is reported in doc["errors"] and the others still run."""
    steps = [("ceiling", lambda: ceiling(run, "before")), ("naive", lambda: naive(run)),
             ("service", lambda: service(run, with_latency="latency" in chosen)),
             ("latency", lambda: run.doc["latency"] is None and latency(run)),
             ("proxy", lambda: proxy(run)), ("hanging", lambda: hanging(run)),
             ("ceiling", lambda: ceiling(run, "after"))]
    run.doc["errors"] = []
    for name, step in steps:
        if name not in chosen:
            continue
        try:
            step()
        except BenchError as exc:
            run.doc["errors"].append(f"{name}: {exc}")
            run.out.print(f"[red]section {name} failed:[/red] {exc}", markup=True, highlight=False)
    if not run.doc["commands"]:
        env = processes.service_env(run.redis_url, 0, "x:", {})
        run.doc["specs"] = [vars(s) for s in processes.worker_specs(env)]
    return run.doc
