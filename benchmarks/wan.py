#!/usr/bin/env python
"""Partners far away (issue 23): the service against a raw client and a naive design, at real-world latency.

Run from the repository root, as root (network namespaces):

    .venv/bin/python benchmarks/wan.py              # full run (5-9 minutes, depending on the engine)
    .venv/bin/python benchmarks/wan.py --quick      # smoke run, small sizes (under 2 minutes)
    .venv/bin/python benchmarks/wan.py --scenarios a,d --designs service   # some scenarios / designs only

It needs redis-server on PATH, `ip` (iproute2) and root for the namespace (without them it falls
back to 127.0.0.1 and says so), and the bench extra (`.venv/bin/pip install -e '.[bench]'`: trustme
for the TLS partners' throwaway CA, matplotlib for the plot; gevent, if installed, for the naive
design's pool).

Where the partners are: in a network namespace of this run, reached over a veth pair
(10.213.N.1 <-> 10.213.N.2, a subnet routed only over that link: nothing leaves the machine). One
asyncio receiver (benchmarks/harness/wan_partner.py) serves every partner, each on a port of its
own (a client keeps one pool per partner, as with partners elsewhere), and adds the round trip in
user space because this kernel has no netem: an answer leaves rtt (+ server time) after the
request arrived, plus one rtt on a new connection (TCP handshake) and one more over TLS. On a
stock kernel the delay can be put on the link instead (then give the receiver rtt 0):

    tc qdisc add dev <veth root end> root netem delay 50ms
    ip netns exec <namespace> tc qdisc add dev wan0 root netem delay 50ms

Designs, each fresh per scenario, measured side by side in one run:

    raw      the client ceiling: a plain requests thread pool (a thread per partner, up to 500), a
             Session per partner, one signed POST per partner, nothing recorded (its own process)
    naive    one Celery task per delivery: `-P gevent -c 500` (threads -c 200 without gevent)
    service  the service as `syndication up` starts it (syndication.cli.topology.worker_specs)

Scenarios (--scenarios; all by default; FULL sizes, --quick in brackets):

    a  breaking story: 1 event to 500 [30] partners, 100 ms round trip; 4 [2] events one after another:
       the first opens the connections ("cold"), the median of the others is "warm"
    b  breaking story: 1 event to 200 [12] partners, 200 ms round trip
    e  partners as they come, over TLS (throwaway CA: trustme): 500 [30] partners, 100 ms, server time
       250 +- 50 ms, 1 % of first attempts answered 503, 0.1 % hanging (read timeout 5 [3] s); 2 events
    c  steady: 1 event/s x 500 [30] partners at 100 ms for 10 [3] s: per-delivery p50/p99
    d  crowd (service only): 2 healthy + 4 slow (+150 ms) + 6 hanging partners (read timeout 15 [3]
       s, as issue 23 measured), 100 ms, 8 events/s for 20 [3] s, then a breaking story

Every partner is `format: json`, `auth: standard-webhooks` (a random secret per run; one push per
design is verified), `allow_private_network: true`. TLS partners are trusted through the clients'
environment (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE = the throwaway CA), and by the
partners file too once it has a CA field (`ca_file` or `tls: {ca_file}`: picked up when present).

Printed: per fan-out, cold and warm completion (202 -> last partner has it), deliveries/s, per
delivery p50/p99 (from the scheduled send time), CPU per delivery by process role, connections
opened (counted at the receiver); the steady stream's percentiles; the crowd's healthy partners;
every design's ledger (expected = received + lost, or the run is VOID); issue 23's goals as
PASS/MISS with ratios to the same-run raw client and naive design. A full run (all scenarios and
designs, not --quick) writes docs/benchmarks/wan.json and docs/benchmarks/wan.png, unless a
design failed or a ledger did not balance. Every process it started is stopped, and the namespace
deleted, on exit, Ctrl-C or error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import processes, report  # noqa: E402 (needs ROOT)
from benchmarks.harness.netns import PartnerNet  # noqa: E402
from benchmarks.harness.tls import throwaway_ca, trust_env  # noqa: E402
from benchmarks.harness.wan_partner import start_wan_partners  # noqa: E402
from benchmarks.pushbench.workload import new_secret  # noqa: E402
from benchmarks.wanbench import figures, tables  # noqa: E402
from benchmarks.wanbench.designs import gevent_available  # noqa: E402
from benchmarks.wanbench.scenarios import run_scenario  # noqa: E402
from benchmarks.wanbench.workload import scenarios  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks"
ORDER = "abecd"
DESIGNS = ("raw", "naive", "service")
FULL = {"wide": 500, "mid": 200, "events": 4, "real_events": 2, "real_read_timeout": 5.0,
        "steady_rate": 1.0, "steady_seconds": 10.0, "crowd_rate": 8.0, "crowd_seconds": 20.0,
        "crowd_read_timeout": 15.0, "event_timeout": 45.0}
QUICK = {"wide": 30, "mid": 12, "events": 2, "real_events": 2, "real_read_timeout": 3.0,
         "steady_rate": 1.0, "steady_seconds": 3.0, "crowd_rate": 8.0, "crowd_seconds": 3.0,
         "crowd_read_timeout": 3.0, "event_timeout": 20.0}


class Run:
    """What every scenario needs: options, processes, Redis, the receiver, the secret, the CA, output."""

    def __init__(self, args, procs, logdir, redis_url, wp, secret, trust, out):
        self.args, self.procs, self.logdir, self.redis_url = args, procs, logdir, redis_url
        self.wp, self.secret, self.trust, self.out = wp, secret, trust, out
        self.run_id = uuid.uuid4().hex[:4]
        self.redis_pid = 0
        self.nproc = len(os.sched_getaffinity(0))
        self.errors: list[str] = []

    def say(self, text: str) -> None:
        self.out.print(f"[dim]{text} …[/dim]", highlight=False)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=f"smoke run at small sizes: {QUICK}")
    p.add_argument("--scenarios", default=ORDER, help=f"which, in the order {ORDER} (default all)")
    p.add_argument("--designs", default=",".join(DESIGNS), help="raw,naive,service (default all)")
    p.add_argument("--partners", type=int, help="partners of scenarios a, c, e (default 500; quick 30)")
    p.add_argument("--events", type=int, help="events per fan-out scenario, one after another (default 4, e: 2)")
    p.add_argument("--event-timeout", type=float,
                   help="seconds an event (or a stream, after its last POST) may take before what arrived is "
                        "counted (default 45; quick 20)")
    p.add_argument("--raw-threads", type=int, default=500,
                   help="the raw client's thread pool: at most this many, one per partner (default 500)")
    p.add_argument("--no-namespace", action="store_true", help="partners on 127.0.0.1 (no network namespace)")
    p.add_argument("--aof", action=argparse.BooleanOptionalAction, default=True,
                   help="Redis with AOF everysec, as production (default)")
    p.add_argument("--json", metavar="PATH", help="write the figures as JSON (full run: docs/benchmarks/wan.json)")
    p.add_argument("--figures", metavar="DIR", help="draw wan.png into DIR (full run: docs/benchmarks)")
    p.add_argument("--keep-logs", action="store_true", help="keep the process logs (path printed)")
    args = p.parse_args(argv)
    size = dict(QUICK if args.quick else FULL)
    if args.partners:
        size["wide"] = args.partners
    if args.events:
        size["events"] = size["real_events"] = max(1, args.events)
    args.event_timeout = args.event_timeout or size["event_timeout"]
    args.size = size
    args.scenario_list = [k for k in ORDER if k in args.scenarios.replace(",", "")]
    args.design_list = [d.strip() for d in args.designs.split(",") if d.strip()]
    if not args.scenario_list or set(args.design_list) - set(DESIGNS):
        p.error(f"--scenarios from {ORDER}, --designs from {','.join(DESIGNS)}")
    args.docs = (not args.quick and not args.partners and not args.events and args.raw_threads == 500
                 and args.scenario_list == list(ORDER)
                 and args.design_list == list(DESIGNS))
    return args


def reproduce_command(args) -> str:
    opts = ["--quick"] if args.quick else []
    if args.scenario_list != list(ORDER):
        opts += ["--scenarios", ",".join(args.scenario_list)]
    if args.design_list != list(DESIGNS):
        opts += ["--designs", ",".join(args.design_list)]
    opts += ["--partners", str(args.size["wide"]), "--events", str(args.size["events"]), "--event-timeout",
             f"{args.event_timeout:g}"] if (args.partners or args.events) else []
    opts += ["--no-namespace"] if args.no_namespace else []
    opts += ["--raw-threads", str(args.raw_threads)] if args.raw_threads != 500 else []
    return report.reproduce_command("benchmarks/wan.py", opts + ([] if args.aof else ["--no-aof"]))


def run(args, procs: processes.Processes, logdir: Path) -> int:
    out = report.console(170)
    started = time.time()
    m = report.machine("python")
    redis_url, redis_proc = processes.start_redis(procs, logdir, args.aof)
    with PartnerNet(use_namespace=not args.no_namespace) as net:
        ca, cert = throwaway_ca(logdir, net.address)
        wp = start_wan_partners(procs, logdir, net, cert)
        r = Run(args, procs, logdir, redis_url, wp, new_secret(), trust_env(ca), out)
        r.redis_pid = redis_proc.pid
        out.print(f"[dim]{net.describe()}[/dim]", highlight=False)
        all_sc = scenarios(args.size)
        results = []
        for key in args.scenario_list:
            results.append(run_scenario(r, all_sc[key]))
        where = net.describe()
    naive_pool = "gevent -c 500" if gevent_available() else "threads -c 200 (gevent not installed)"
    specs = next((res.get("commands") for sc in results for res in sc["results"] if res.get("design") == "service"
                  and res.get("commands")), None)
    version = code_version()
    report.print_header(out, f"syndication push benchmark: partners far away (code: {version})", m,
                        " (AOF everysec)" if args.aof else " (no persistence)", reproduce_command(args),
                        specs or ["(no service run)"], inside=[
                            where, "round trip and server time added by the receiver (no netem in this kernel)",
                            "every push signed (standard-webhooks); one push per scenario verified",
                            f"naive design: one Celery task per delivery, -P {naive_pool}",
                            *[f"{name}: {text}" for name, text in describe(results).items()],
                            "latency from the scheduled send time; ledger: expected = received + lost"])
    for t in (tables.fanout_table(results), tables.cpu_table(results), tables.steady_table(results),
              tables.crowd_table(results)):
        if t.row_count:
            out.print(t)
    out.print("ledger: expected = received (first 2xx at the partners) + lost (what the design counts as not "
              "delivered: raw and naive, failed POSTs; the service, its records when counted, by state)",
              highlight=False)
    goals = tables.goals(results)
    out.print(tables.goals_table(goals))
    out.print("Not measured here: the loopback goals (benchmarks/push.py) and the worker shape (tests).",
              highlight=False)
    void = tables.void_ledgers(results)
    for v in void:
        out.print(f"VOID ledger {v}", markup=False, soft_wrap=True)
    for err in r.errors:
        out.print(f"FAILED {err}", markup=False, soft_wrap=True)
    report.print_footer(out, started)
    doc = {"benchmark": "wan", "code": version, "machine": m, "reproduce": reproduce_command(args), "where": where,
           "naive_pool": naive_pool, "size": args.size, "quick": args.quick, "scenarios": results, "goals": goals,
           "void": void, "errors": r.errors, "seconds": time.time() - started}
    if args.docs and not (void or r.errors):
        args.json = args.json or str(DOCS / "wan.json")
        args.figures = args.figures or str(DOCS)
    elif args.docs:
        out.print(f"not writing {DOCS.relative_to(ROOT)}/: a design failed or a ledger did not balance")
    if args.json:
        report.write_json(args.json, finite(doc))
        out.print(f"figures as JSON: {args.json}")
    if args.figures:
        drawn = figures.draw(doc, Path(args.figures), f"{m['cpu']}, nproc={m['nproc']}, load avg at start {m['load']}")
        out.print(drawn if isinstance(drawn, str) else "plot: " + ", ".join(map(str, drawn)), markup=False)
    return 1 if (void or r.errors) else 0


def describe(results: list[dict]) -> dict[str, str]:
    """Each design as it ran (its first scenario's description; TLS scenarios say how the CA was given)."""
    out: dict[str, str] = {}
    for sc in results:
        for res in sc["results"]:
            if res.get("describe") and (res["design"] not in out or sc["tls"]):
                out[res["design"]] = res["describe"]
    return out


def code_version() -> str:
    """The commit measured (and whether the service's code differs from it), or $BENCH_COMMIT for an
    exported tree (`git archive HEAD`: measures the commit, not someone's uncommitted changes)."""
    import subprocess

    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") if (ROOT / ".git").exists() else ""
    if not head:
        return os.environ.get("BENCH_COMMIT", "unknown")
    dirty = git("status", "--porcelain", "--", "syndication", "workers")
    return head + (" + uncommitted changes in syndication/ or workers/" if dirty else "")


def finite(v):
    """inf ("did not complete in time") as nan, which write_json stores as null: JSON has no infinity."""
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return float("nan")
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite(x) for x in v]
    return v


def main(argv=None) -> int:
    args = parse_args(argv)
    return processes.run_guarded("syndication-wanbench-", args.keep_logs, lambda procs, logdir: run(args, procs, logdir))


if __name__ == "__main__":
    sys.exit(main())
