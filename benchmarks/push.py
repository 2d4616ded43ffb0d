#!/usr/bin/env python
"""Partner push benchmark (issue 13): the service against a raw ceiling and a naive design, in one run.

Run from the repository root:

    .venv/bin/python benchmarks/push.py              # full run (about 5-6 minutes): writes docs/benchmarks/
    .venv/bin/python benchmarks/push.py --quick      # smoke test, every section at small sizes (1-2 minutes)
    .venv/bin/python benchmarks/push.py --sections service,latency   # only some sections (or --skip naive)
    .venv/bin/python benchmarks/push.py --help       # sizes, rates, the proxy's delay, ...

It needs `redis-server` on PATH (`apt-get install -y redis-server`), and matplotlib for the figures
(`.venv/bin/pip install -e '.[bench]'`; without it the figures are skipped with that hint). It
starts its own throwaway `redis-server` on a free port (never 6379; AOF everysec as production,
`--no-aof` to compare), a fast partner server (benchmarks/harness/partner.py, its own process),
and for each case a fresh service started exactly as `syndication up` starts it: `syndication
api`, one Celery worker per `syndication.cli.topology.worker_specs(env)` (events, feeds, and one
deliveries worker per core) with `--without-gossip --without-mingle -E -l warning`.
Everything listens on 127.0.0.1 only; counts and waits are bounded (a case that does not finish
within --case-timeout reports what arrived, marked "timed out"); every process it started is
stopped on exit, Ctrl-C or error.

Partners: `format: json`, `auth: standard-webhooks` (one random secret per run), so signing is
inside every figure; each push must carry a signature and the first of each case is verified.
Events: one new article each (~3.4 kB HTML; the json push body is ~4.5 kB).

Sections (--sections / --skip; all by default), printed as tables:

1. ceiling  raw POST ceiling: a plain requests.Session keep-alive loop sending the service's push
            body and headers to the fast partner, in 1 and in 2 processes at once (before and
            after the other sections; their mean is the ceiling).
2. naive    the baseline design (benchmarks/naive/): events POSTed to a tiny FastAPI app that
            enqueues one Celery task per event; a prefork -c 2 worker POSTs to each partner in
            turn with a requests.Session per process, signing each push, recording nothing.
   service  the service with 1, 10 and 50 partners: deliveries/s (pushes received / first POST ->
            last push) as ratios of the 2- and 1-process ceilings and of naive; Redis commands and
            round trips per delivery (INFO total_commands_processed / total_reads_processed).
3. CPU      each case's CPU by process role (the deliveries processes summed, and each shown),
            as share of a core and ms per delivery.
4. burst    the 1-partner case is a 2,000-event burst: events/s accepted (to the last 202) and
            applied, and how long after the last 202 each of the benchmark's feeds (all, economy,
            en) shows the last event's article through GET /feeds/<name>.json.
5. latency  events at 100/s on a fixed schedule (4 connections) to 10 partners: 202 -> partner
            received, p50/p90/p99, matched by webhook-id = delivery id.
6. proxy    10 partners with every service process reaching Redis through a TCP delay proxy
            (benchmarks/harness/delay_proxy.py, 0.75 ms each way): deliveries/s vs direct, and
            round trips per delivery counted by the proxy.
7. hanging  10 partners all healthy, then (a fresh service right after) one of them hanging
            (accepts, never answers), each given the same burst and paced stream: the other 9's
            deliveries/s and latency p50/p99 kept.
8. goals    every goal of issue 13 as a ratio from this run, with PASS/MISS.

A full run with every section writes docs/benchmarks/push.json and draws
docs/benchmarks/throughput.png and docs/benchmarks/latency_cdf.png (not when a section failed: a
failing section is reported, the others still run, and the exit status is 1); other runs write
only what --json PATH / --figures DIR ask for. Ratios are what to compare across machines and
commits; the load average at the start is printed (this machine may be shared).

The sections live in benchmarks/pushbench/ (workload, targets, measure, sections, tables); the
shared pieces (processes, partner, proxy, CPU and Redis counters, figures) in benchmarks/harness/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import figures, processes, report  # noqa: E402 (needs ROOT)
from benchmarks.harness.delay_proxy import DEFAULT_DELAY_MS  # noqa: E402
from benchmarks.harness.partner import start_partner  # noqa: E402
from benchmarks.pushbench import tables  # noqa: E402
from benchmarks.pushbench.sections import SECTIONS, Run, run_sections  # noqa: E402
from benchmarks.pushbench.workload import SECRET_ENV, new_secret  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks"
DEFAULT_CASES = "1:2000,10:1000,50:200"
QUICK = {"cases": "1:300,10:40,50:8", "ceiling_seconds": 1.5, "latency_seconds": 2.0, "warmup": 3,
         "case_timeout": 25.0}


def reproduce_command(args) -> str:
    opts = ["--quick"] if args.quick else []
    opts += ["--cases", args.cases, "--ceiling-seconds", f"{args.ceiling_seconds:g}", "--latency-rate",
             f"{args.latency_rate:g}", "--latency-seconds", f"{args.latency_seconds:g}", "--proxy-delay-ms",
             f"{args.proxy_delay_ms:g}", "--senders", str(args.senders), "--warmup", str(args.warmup)]
    if args.chosen != list(SECTIONS):
        opts += ["--sections", ",".join(args.chosen)]
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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help=f"smoke test, every section small: {QUICK}; options given explicitly still win; "
                        "writes no JSON or figures unless asked")
    p.add_argument("--sections", help=f"comma-separated, run only these: {','.join(SECTIONS)}")
    p.add_argument("--skip", help="comma-separated sections not to run")
    p.add_argument("--cases", default=DEFAULT_CASES,
                   help=f"PARTNERS:EVENTS,... for naive and service (default {DEFAULT_CASES}); the 10-partner "
                        "case's events also size the proxy and hanging cases")
    p.add_argument("--senders", type=int, default=8, help="connections POSTing a burst's events (default 8)")
    p.add_argument("--ceiling-seconds", type=float, default=4.0, help="seconds of each ceiling loop (default 4)")
    p.add_argument("--latency-rate", type=float, default=100.0, help="events/s of the paced stream (default 100)")
    p.add_argument("--latency-seconds", type=float, default=10.0,
                   help="seconds of the paced stream, at most 1,000 events (default 10)")
    p.add_argument("--proxy-delay-ms", type=float, default=DEFAULT_DELAY_MS,
                   help=f"the delay proxy's delay each way (default {DEFAULT_DELAY_MS})")
    p.add_argument("--warmup", type=int, default=5, help="warm-up events per case (default 5)")
    p.add_argument("--case-timeout", type=float, default=45.0,
                   help="seconds a case may run after its last POST; then it reports what arrived (default 45)")
    p.add_argument("--aof", action=argparse.BooleanOptionalAction, default=True,
                   help="Redis with AOF everysec, as production (default); --no-aof to compare")
    p.add_argument("--json", metavar="PATH", help="write every figure as JSON (full run default: "
                                                  "docs/benchmarks/push.json)")
    p.add_argument("--figures", metavar="DIR", help="draw the PNGs into DIR (full run default: docs/benchmarks)")
    p.add_argument("--keep-logs", action="store_true", help="keep the process logs (path printed)")
    if p.parse_args(argv).quick:
        p.set_defaults(**QUICK)
    args = p.parse_args(argv)
    try:
        args.case_list = parse_cases(args.cases)
    except ValueError:
        p.error(f"--cases: expected PARTNERS:EVENTS[,...], got {args.cases!r}")
    chosen = [s.strip() for s in args.sections.split(",")] if args.sections else list(SECTIONS)
    skip = {s.strip() for s in args.skip.split(",")} if args.skip else set()
    unknown = (set(chosen) | skip) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s) {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    args.chosen = [s for s in SECTIONS if s in chosen and s not in skip]
    args.latency_partners = 10
    args.proxy_events = next((e for n, e in args.case_list if n == 10), 40 if args.quick else 1000)
    # A full run with every section writes docs/benchmarks/ (unless a section fails: see run()).
    args.docs = not args.quick and args.chosen == list(SECTIONS)
    return args


def run(args, procs: processes.Processes, logdir: Path) -> int:
    out = report.console(170)
    started = time.time()
    m = report.machine("python")
    redis_url, redis = processes.start_redis(procs, logdir, args.aof)
    partner = start_partner(procs, logdir)
    r = Run(args, procs, logdir, redis_url, redis, partner, new_secret(), out)
    doc = run_sections(r, args.chosen)
    doc["quick"] = args.quick

    persistence = "AOF: appendonly yes, appendfsync everysec, as production" if args.aof else "no persistence"
    specs = ", ".join(f"{s['name']} ({s['pool']} x{s['concurrency']})" for s in doc["specs"])
    report.print_header(out, "syndication push benchmark", m, f" ({persistence})", reproduce_command(args),
                        doc["commands"] or ["(no service section ran)"], inside=[
                            f"Redis {persistence}, inside every figure",
                            f"every push signed (partners: format json, auth: standard-webhooks, a random whsec_ "
                            f"secret per run in ${SECRET_ENV}); the first push of each case verified",
                            f"service workers from syndication.cli.topology.worker_specs: {specs}",
                            f"sections: {', '.join(args.chosen)}"])
    for t in tables.all_tables(doc, int(m["nproc"])):
        out.print(t)
    for err in doc["errors"]:
        out.print(f"FAILED section {err}", markup=False, soft_wrap=True)
    if doc["errors"] and not args.keep_logs:
        out.print("(the process logs are removed on exit: rerun with --keep-logs to keep them)", markup=False)
    report.print_footer(out, started)
    jdoc = {"benchmark": "push", "machine": m, "reproduce": reproduce_command(args), "redis_aof": args.aof,
            "sections": args.chosen, **tables.json_doc(doc)}
    if args.docs and not (args.json and args.figures):
        if doc["errors"]:
            out.print(f"not writing {DOCS.relative_to(ROOT)}/: a section failed", markup=False)
        else:
            args.json = args.json or str(DOCS / "push.json")
            args.figures = args.figures or str(DOCS)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        report.write_json(args.json, jdoc)
        out.print(f"figures as JSON: {args.json}")
    if args.figures:
        subtitle = f"{m['cpu']}, nproc={m['nproc']}, load avg at start {m['load']}"
        drawn = figures.draw(jdoc, Path(args.figures), subtitle)
        out.print(drawn if isinstance(drawn, str) else "figures: " + ", ".join(map(str, drawn)), markup=False)
    return 1 if doc["errors"] else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return processes.run_guarded("syndication-pushbench-", args.keep_logs, lambda procs, logdir: run(args, procs, logdir))


if __name__ == "__main__":
    sys.exit(main())
