#!/usr/bin/env python
"""Capacity benchmark (issue 17): what one delivery and one event cost each process role and Redis.

Run from the repository root:

    .venv/bin/python benchmarks/capacity.py            # about 2 minutes; prints the tables docs/deploy.md quotes
    .venv/bin/python benchmarks/capacity.py --json docs/benchmarks/capacity.json

It starts, on 127.0.0.1 only, a throwaway redis-server on a free port (never 6379; AOF everysec as
production), the fast partner (benchmarks/harness/partner.py) and one service exactly as
`syndication up` starts it (`syndication api`, the Celery workers of
syndication.cli.topology.worker_specs: events, feeds, one deliveries process per core), with
`--partners` partners (format json, standard-webhooks signing) that take only the category
Economy. Then, on that one service, in order:

1. idle      nothing published for --idle-seconds: each process's fixed CPU and Redis commands/s
2. events    --events-only events at --events-rate/s in another category: no partner takes them
             (the API, events and feeds workers and Redis per accepted event)
3. paced     --events events at --rate/s every partner takes: CPU seconds per delivery of each
             role (/proc/<pid>/stat utime+stime deltas), Redis commands per delivery (INFO
             total_commands_processed deltas), used_memory per delivery
4. memory    MEMORY USAGE of the run's delivery records, attempts, listing and article entries
5. burst     --burst events as fast as the API answers: the same costs at saturation, and
             deliveries/s this box reaches
6. redis-benchmark  of a fresh redis-server on this box, the service stopped: commands/s for
             SET/GET/HSET/ZADD unpipelined and -P 16, and an EVAL shaped like the push path's Lua

Every count and wait is bounded (--timeout per phase); every process started is stopped on exit.
docs/deploy.md turns the figures into the capacity model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from benchmarks.harness import processes, report  # noqa: E402
from benchmarks.harness.partner import start_partner  # noqa: E402
from benchmarks.pushbench import measure  # noqa: E402
from benchmarks.pushbench.targets import Service  # noqa: E402
from benchmarks.pushbench.workload import CATEGORY, SECRET_ENV, new_secret  # noqa: E402
from benchmarks.capacitybench import memory, phases, redisbench, tables  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--partners", type=int, default=10, help="partners taking every delivered event (default 10)")
    p.add_argument("--idle-seconds", type=float, default=10.0, help="the idle phase (default 10)")
    p.add_argument("--events-only", type=int, default=600, help="events of the events-only phase (default 600)")
    p.add_argument("--events-rate", type=float, default=60.0, help="their rate, events/s (default 60)")
    p.add_argument("--events", type=int, default=800, help="events of the paced deliveries phase (default 800)")
    p.add_argument("--rate", type=float, default=40.0,
                   help="their rate, events/s (default 40: x 10 partners = 400 deliveries/s, about a third of "
                        "what this 2-core box does flat out)")
    p.add_argument("--burst", type=int, default=1000, help="events of the saturating burst (default 1000)")
    p.add_argument("--redis-requests", type=int, default=100_000, help="requests per redis-benchmark test")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds a phase may take past its last POST")
    p.add_argument("--json", metavar="PATH", help="write every figure as JSON")
    p.add_argument("--keep-logs", action="store_true", help="keep the process logs (path printed)")
    return p.parse_args(argv)


def reproduce(args) -> str:
    opts = ["--partners", str(args.partners), "--idle-seconds", f"{args.idle_seconds:g}", "--events-only",
            str(args.events_only), "--events-rate", f"{args.events_rate:g}", "--events", str(args.events),
            "--rate", f"{args.rate:g}", "--burst", str(args.burst), "--redis-requests", str(args.redis_requests)]
    return report.reproduce_command("benchmarks/capacity.py", opts)


def take_only(path: Path, category: str) -> None:
    """Give every partner of the benchmark's partners file a category filter (before the service starts)."""
    doc = yaml.safe_load(path.read_text())
    for entry in doc["partners"]:
        entry["filters"] = {"categories": [category]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def run(args, procs: processes.Processes, logdir: Path) -> int:
    out = report.console(170)
    started = time.time()
    m = report.machine("python")
    redis_url, redis_proc = processes.start_redis(procs, logdir, aof=True)
    import redis as redis_lib

    r = redis_lib.Redis.from_url(redis_url)
    partner = start_partner(procs, logdir)
    secret = new_secret()
    doc: dict = {"partners": args.partners}
    svc = Service(procs, redis_url, partner, args.partners, logdir, secret, tag="cap")
    take_only(logdir / "partners-cap.yaml", CATEGORY)
    say = lambda text: out.print(f"[dim]{text} …[/dim]")  # noqa: E731
    with svc:
        say("warm-up")
        svc.warm_up("wcap", 5, secret)
        pids = {**svc.pids(), **measure.driver_pids(redis_proc.pid, partner)}
        doc["commands"] = svc.commands()
        doc["specs"] = [vars(s) for s in svc.specs]
        say(f"idle, {args.idle_seconds:g} s")
        doc["idle"] = phases.idle(svc, r, pids, args.idle_seconds)
        say(f"events only, {args.events_only} at {args.events_rate:g}/s")
        doc["events_only"] = phases.events_only(svc, r, pids, args.events_only, args.events_rate, args.timeout)
        say(f"paced deliveries, {args.events} events at {args.rate:g}/s x {args.partners} partners")
        doc["deliveries"] = phases.deliveries(svc, r, pids, args.events, args.rate, args.timeout)
        doc["memory"] = memory.record_bytes(svc.ctx, svc.healthy[0])
        say(f"burst, {args.burst} events x {args.partners} partners")
        svc.wait_quiet()
        doc["burst"] = measure.burst(svc, r, redis_url, args.burst, 8, args.timeout, pids)
    procs.stop([redis_proc, partner.proc])
    say("redis-benchmark")
    doc["redis_benchmark"] = redisbench.measure(procs, logdir, args.redis_requests)

    doc["load_at_end"] = " ".join(f"{x:.2f}" for x in __import__("os").getloadavg())
    fig = tables.figures(doc)
    specs = ", ".join(f"{s['name']} ({s['pool']} x{s['concurrency']})" for s in doc["specs"])
    report.print_header(out, "syndication capacity benchmark", m, " (AOF everysec, as production)", reproduce(args),
                        doc["commands"], inside=[
                            f"one service, workers from syndication.cli.topology.worker_specs: {specs}",
                            f"{args.partners} partners, format json, standard-webhooks signing (${SECRET_ENV}); "
                            f"the fast loopback partner answers 200 at once",
                            "CPU: /proc/<pid>/stat utime+stime deltas per process; net = less the role's idle "
                            "CPU/s over the same seconds",
                            "Redis: INFO total_commands_processed / total_reads_processed deltas, the benchmark's "
                            "own requests left out"])
    for t in tables.all_tables(doc, fig):
        out.print(t)
    report.print_footer(out, started)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        report.write_json(args.json, {"benchmark": "capacity", "machine": m, "reproduce": reproduce(args),
                                      "figures": fig, "raw": doc})
        out.print(f"figures as JSON: {args.json}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return processes.run_guarded("syndication-capacity-", args.keep_logs, lambda procs, logdir: run(args, procs, logdir))


if __name__ == "__main__":
    sys.exit(main())
