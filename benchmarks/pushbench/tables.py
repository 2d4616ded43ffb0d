"""The push benchmark's report: the tables, the goals (PASS/MISS, each a ratio from the same run), the JSON.

Every function takes the document sections.run_sections() built; a section that did not run
prints nothing, and a goal whose figures are missing reads "not run".
"""

from __future__ import annotations

import statistics

from benchmarks.harness import report
from benchmarks.pushbench.measure import latency_of
from benchmarks.pushbench.targets import role

NAN = float("nan")
ROLE_ORDER = ("api", "events", "feeds", "deliveries", "naive-api", "naive-worker", "redis", "proxy",
              "partner", "driver")


def f(v, fmt: str = ",.0f", unit: str = "") -> str:
    return "—" if v is None or v != v else f"{v:{fmt}}{unit}"


def ceilings(doc: dict) -> dict[int, float]:
    """Processes -> POST/s: the mean of the runs before and after the other sections."""
    c = doc["ceiling"]
    runs = [c[w] for w in ("before", "after") if w in c]
    return {k: statistics.mean(r[i]["rps"] for r in runs) for i, k in enumerate((1, 2))} if runs else {}


def other_cores(c: dict) -> float:
    """Cores used by processes this run did not start, during a burst (other load on a shared machine)."""
    ours = sum(v for k, v in c["cpu"].items() if k != "machine")
    return max(0.0, c["cpu"]["machine"] - ours) / c["cpu_secs"]


def naive_rate(doc: dict, partners: int) -> float:
    return next((c["rate"] for c in doc["naive"] if c["partners"] == partners), NAN)


# =========================================================================== tables


def ceiling_table(doc: dict):
    t = report.table("1. Raw ceiling: plain requests.Session keep-alive POST loops -> the fast partner",
                     ("processes", "when", "POST/s", "seconds", "client ms/POST", "client cores", "partner core", "bad"),
                     left=("when",))
    c = doc["ceiling"]
    for i, k in enumerate((1, 2)):
        for when in ("before", "after"):
            if when in c:
                x = c[when][i]
                t.add_row(str(k), when, f(x["rps"]), f(x["seconds"], ".1f"), f(x["client_ms_per_post"], ".2f"),
                          f(x["client_cpu_pct"], ".0f", "%"), f(x["server_cpu_pct"], ".0f", "%"),
                          str(x["errors"] + abs(x["unanswered"])))
        t.add_row(str(k), "mean", f(ceilings(doc)[k]), "", "", "", "", "", style="bold")
    t.caption = (f"each loop in its own process and connection, the service's json push body "
                 f"({c.get('body_bytes', 0):,} B) and header set (webhook-signature fixed: the loops sign nothing); "
                 "2 processes = two loops at once, POST/s summed. bad = errors + requests the partner did not count")
    return t


def throughput_table(doc: dict):
    ceil = ceilings(doc)
    t = report.table("2. Deliveries/s end to end: events POSTed over HTTP -> pushes received by the fast partner",
                     ("design", "partners", "events", "received", "seconds", "deliveries/s", "× ceiling 2p",
                      "× ceiling 1p", "× naive", "redis cmds", "round trips", "per task", "dupes"),
                     left=("design",), no_wrap=("deliveries/s",))
    for design, cases in (("naive", doc["naive"]), ("service", doc["service"])):
        for c in cases:
            push_tasks = c["tasks"].get("deliveries", 0)
            t.add_row(design, str(c["partners"]), f"{c['events']:,}",
                      f"{c['received']:,}/{c['deliveries']:,}" + ("" if c["complete"] else " (timed out)"),
                      f(c["elapsed"], ".1f"), f(c["rate"]), f(report.ratio(c["rate"], ceil.get(2, NAN)), ".2f"),
                      f(report.ratio(c["rate"], ceil.get(1, NAN)), ".2f"),
                      f(report.ratio(c["rate"], naive_rate(doc, c["partners"])), ".2f") if design == "service" else "",
                      f(c["redis_cmds_per_delivery"], ".1f"), f(c["redis_round_trips_per_delivery"], ".1f"),
                      f(c["task_delivered"] / push_tasks, ".1f") if push_tasks else "", str(c["dupes"]),
                      style="bold" if design == "service" else None)
        if cases:
            t.add_section()
    t.caption = ("deliveries/s = pushes received / (first POST -> last push received); ceilings from table 1 (same "
                 "run). redis cmds / round trips = per delivery, from Redis INFO (total_commands_processed, incl. "
                 "inside Lua and Celery's own; total_reads_processed: one per request or pipeline), the driver's own "
                 "polls left out. per task = deliveries per push_batch task (Celery task events). Service: every push "
                 "signed (standard-webhooks), durable records and leases; naive: one Celery task per event, prefork "
                 "-c 2, signs, records nothing")
    return t


def cpu_table(doc: dict, nproc: int, design: str):
    """Table 3a (naive) or 3b (the service, and its proxy and hanging cases): CPU by process role."""
    if design == "naive":
        cases = [(f"{c['partners']} partners", c) for c in doc["naive"]]
    else:
        cases = [(f"{c['partners']} partners", c) for c in doc["service"]]
        if doc["proxy"]:
            cases.append(("10, via proxy", doc["proxy"]["via_proxy"]))
        if doc["hanging"]:
            cases.append(("10, 1 hanging", doc["hanging"]["burst"]))
    if not cases:
        return None
    labels = sorted({k for _, c in cases for k in c["cpu"] if k != "machine"})
    roles = [r for r in ROLE_ORDER if any(role(k) == r for k in labels)]
    per_proc = [k for k in labels if role(k) in ("deliveries", "naive-worker") and k not in ("deliveries", "naive-worker")]
    cols = [*roles, *(f"·{k}" for k in per_proc)]
    what = "naive baseline" if design == "naive" else "service"
    t = report.table(f"3{'a' if design == 'naive' else 'b'}. CPU by process role, {what}, over each burst "
                     "(first POST -> last push received)", ("case", "", *cols, "machine", "other"), left=("case", ""))
    for name, c in cases:
        secs, cpu = c["cpu_secs"], c["cpu"]
        by_role = {r: sum(v for k, v in cpu.items() if k != "machine" and role(k) == r) for r in roles}
        vals = [*(by_role[r] for r in roles), *(cpu.get(k, 0.0) for k in per_proc)]
        ours = sum(by_role.values())
        t.add_row(name, "core", *(f(100 * v / secs, ".0f", "%") for v in vals), f(100 * cpu["machine"] / secs, ".0f", "%"),
                  f(100 * max(0.0, cpu["machine"] - ours) / secs, ".0f", "%"))
        t.add_row("", "ms/deliv.", *(f(1000 * v / max(c["received"], 1), ".3f") for v in vals), "", "", style="bold")
    t.caption = (f"core = CPU time (user+sys, /proc/<pid>/stat) / wall time, 100% = one core; ms/deliv. = CPU ms per "
                 f"push received. A role sums its processes: "
                 + ("naive-worker = the prefork parent and its children (each also shown, ·naive-worker.N)"
                    if design == "naive" else "deliveries = every deliveries worker process (each also shown, "
                                              "·deliveriesN)")
                 + f". machine = all {nproc} cores (/proc/stat, max {100 * nproc}%); other = machine minus the "
                 "processes listed (other processes on this shared machine, kernel)")
    return t


def burst_table(doc: dict):
    c = next((c for c in doc["service"] if c["partners"] == 1 and "freshness" in c), None)
    if not c:
        return None
    fr = c["freshness"]
    t = report.table(f"4. One partner, a {c['events']:,}-event burst: accepted, applied, feeds fresh after the last 202",
                     ("figure", "value"), left=("figure",))
    t.add_row("accepted (events / first POST -> last 202)", f"{f(c['accept_rps'])} events/s")
    t.add_row("applied (events / first POST -> none pending)", f"{f(c['apply_rps'])} events/s")
    for name, s in fr["feeds"].items():
        t.add_row(f"GET /feeds/{name}.json shows the last event, after its 202", f(1000 * s, ",.0f", " ms"))
    t.caption = ("feeds from the benchmark's own feeds file (all / economy / en: every event is in each); polled "
                 "with conditional GETs through the API from the last 202 on")
    return t


def latency_table(doc: dict):
    lat = doc["latency"]
    if not lat:
        return None
    t = report.table(f"5. Publish -> push latency: {lat['events']:,} events at {lat['rate']:g}/s (achieved "
                     f"{lat['achieved_rate']:.1f}/s) x {lat['partners']} partners, paced",
                     ("interval", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"), left=("interval",))
    for label, q in (("202 -> partner received the push", lat["latency"]), ("POST /v1/events round trip", lat["post"])):
        t.add_row(label, f"{q['n']:,}", *(f(1000 * q[k], ",.1f") for k in ("p50", "p90", "p99", "max")))
    t.caption = (f"received {lat['received']:,} of {lat['deliveries']:,} pushes; each matched to its event by "
                 "webhook-id = delivery id (GET /v1/deliveries?partner=); the CDF: latency_cdf.png (--figures)")
    return t


def proxy_table(doc: dict):
    p = doc["proxy"]
    if not p:
        return None
    d, v = p["direct"], p["via_proxy"]
    t = report.table(f"6. Redis {p['delay_ms']:g} ms away each way (delay proxy; PING round trip p50 "
                     f"{p['rtt_ms']['p50']:.2f} ms, p90 {p['rtt_ms']['p90']:.2f} ms), 10 partners",
                     ("Redis", "deliveries/s", "× direct", "redis cmds", "round trips (Redis)", "round trips (proxy)",
                      "other load"), left=("Redis",))
    t.add_row("direct", f(d["rate"]), "1.00", f(d["redis_cmds_per_delivery"], ".1f"),
              f(d["redis_round_trips_per_delivery"], ".1f"), "", f(100 * other_cores(d), ".0f", "%"))
    t.add_row("through the proxy", f(v["rate"]), f(report.ratio(v["rate"], d["rate"]), ".2f"),
              f(v["redis_cmds_per_delivery"], ".1f"), f(v["redis_round_trips_per_delivery"], ".1f"),
              f(v.get("proxy_round_trips_per_delivery"), ".1f"), f(100 * other_cores(v), ".0f", "%"), style="bold")
    t.caption = ("two fresh services back to back, direct then through the proxy, the same burst; every service "
                 "process (API, workers) reaches Redis through the proxy (SYNDICATION_REDIS_URL); "
                 "round trips (proxy) = request chunks the proxy forwarded client -> Redis, per delivery; the real "
                 "distance is the measured PING: 2 x the delay plus loopback and the proxy's own time; other load = "
                 "CPU of processes not started by this run during the burst, % of a core (a shared machine)")
    return t


def hanging_figures(doc: dict) -> dict | None:
    h = doc["hanging"]
    if not h:
        return None
    ids = h["healthy"]
    ref_b, b = h["reference_burst"], h["burst"]
    ref_rate = sum(ref_b["per_partner_rate"].get(p, 0.0) for p in ids)
    rate = sum(b["per_partner_rate"].get(p, 0.0) for p in ids)
    return {"rate": rate, "ref_rate": ref_rate, "lat": latency_of(h["paced"], ids),
            "ref_lat": latency_of(h["reference_paced"], ids), "hung": b["hung"]}


def hanging_table(doc: dict):
    x = hanging_figures(doc)
    if not x:
        return None
    n = len(doc["hanging"]["healthy"])
    t = report.table(f"7. Isolation: {n} healthy partners, all {n + 1} healthy vs one hanging (accepts, never answers)",
                     ("the other partners", "all healthy", "one hanging", "kept"), left=("the other partners",))
    t.add_row(f"deliveries/s to the {n} (burst)", f(x["ref_rate"]), f(x["rate"]), f(report.ratio(x["rate"], x["ref_rate"]), ".2f"))
    h = doc["hanging"]
    t.add_row("other load during the burst", f(100 * other_cores(h["reference_burst"]), ".0f", "%"),
              f(100 * other_cores(h["burst"]), ".0f", "%"), "")
    for k in ("p50", "p99"):
        t.add_row(f"latency {k} ms (paced)", f(1000 * x["ref_lat"][k], ",.1f"), f(1000 * x["lat"][k], ",.1f"),
                  f(report.ratio(x["ref_lat"][k], x["lat"][k]), ".2f"))
    t.caption = (f"two fresh services back to back, all {n + 1} healthy then one hanging, each given the same burst "
                 f"then the same paced stream as table 5; deliveries/s to the {n} = the sum over each of its pushes / "
                 "(first POST -> its last push); kept = hanging / healthy for rates, healthy / hanging for latencies "
                 f"(1.00 = unaffected); requests the hanging partner held: {x['hung']:,}")
    return t


# =========================================================================== goals


def goals(doc: dict) -> list[dict]:
    """Each goal: what, measured, ratio (or value), the bound, PASS/MISS; None where not run."""
    ceil = ceilings(doc)
    rows = []

    def add(what, measured, value, bound, ok, fmt=".2f"):
        rows.append({"goal": what, "measured": measured, "value": value, "bound": bound,
                     "result": None if value is None or value != value else ("PASS" if ok(value) else "MISS"),
                     "fmt": fmt})

    for n in (10, 50):
        c = next((c for c in doc["service"] if c["partners"] == n), None)
        rate = c["rate"] if c else NAN
        add(f"{n} partners: × raw 2-process ceiling", f"{f(rate)} vs {f(ceil.get(2, NAN))}/s",
            report.ratio(rate, ceil.get(2, NAN)) if c else None, "≥ 0.70", lambda v: v >= 0.70)
        add(f"{n} partners: × naive task-per-event", f"{f(rate)} vs {f(naive_rate(doc, n))}/s",
            report.ratio(rate, naive_rate(doc, n)) if c else None, "≥ 1.00", lambda v: v >= 1.0)
    c1 = next((c for c in doc["service"] if c["partners"] == 1 and "freshness" in c), None)
    add("1 partner: events/s accepted", f"{c1['events']:,}-event burst" if c1 else "",
        c1["accept_rps"] if c1 else None, "≥ 1,000/s", lambda v: v >= 1000, ",.0f")
    add("1 partner: events/s applied", "", c1["apply_rps"] if c1 else None, "≥ 1,000/s", lambda v: v >= 1000, ",.0f")
    add("1 partner: every feed fresh after the last 202", "s, slowest feed",
        c1["freshness"]["max_s"] if c1 else None, "≤ 1.0 s", lambda v: v <= 1.0)
    lat = doc["latency"]
    for k, bound in (("p50", 0.025), ("p99", 0.100)):
        add(f"publish -> push {k}, {lat['rate']:g}/s x {lat['partners']} partners" if lat else f"publish -> push {k}",
            "ms", 1000 * lat["latency"][k] if lat else None, f"≤ {1000 * bound:.0f} ms", lambda v, b=bound: v <= 1000 * b,
            ",.1f")
    p = doc["proxy"]
    add("Redis 1-2 ms away: × direct, 10 partners",
        f"{f(p['via_proxy']['rate'])} vs {f(p['direct']['rate'])}/s" if p else "",
        report.ratio(p["via_proxy"]["rate"], p["direct"]["rate"]) if p else None, "≥ 0.70", lambda v: v >= 0.70)
    h = hanging_figures(doc)
    add("one of 10 hanging: the 9's throughput kept", f"{f(h['rate'])} vs {f(h['ref_rate'])}/s" if h else "",
        report.ratio(h["rate"], h["ref_rate"]) if h else None, "≥ 0.90", lambda v: v >= 0.90)
    add("one of 10 hanging: the 9's p99 kept (healthy / hanging)",
        f"{f(1000 * h['lat']['p99'], ',.1f')} vs {f(1000 * h['ref_lat']['p99'], ',.1f')} ms" if h else "",
        report.ratio(h["ref_lat"]["p99"], h["lat"]["p99"]) if h else None, "≥ 0.90", lambda v: v >= 0.90)
    return rows


def goals_table(doc: dict):
    t = report.table("8. Goals (issue 13), each from this run", ("goal", "measured", "value", "goal ", "result"),
                     left=("goal", "measured"))
    for g in goals(doc):
        res = g["result"] or "not run"
        colour = {"PASS": "green", "MISS": "red"}.get(res, "dim")
        t.add_row(g["goal"], g["measured"], f(g["value"], g["fmt"]), g["bound"], f"[{colour}]{res}[/{colour}]")
    t.caption = ("ratios are what to compare across machines and runs: each is against a baseline measured in this "
                 "run, on the same machine under the same load"
                 + ("; --quick: bursts of a second or less, a smoke test: judge the goals on a full run"
                    if doc.get("quick") else ""))
    return t


def all_tables(doc: dict, nproc: int) -> list:
    tables = []
    if doc["ceiling"]:
        tables.append(ceiling_table(doc))
    if doc["naive"] or doc["service"]:
        tables.append(throughput_table(doc))
    tables += [x for x in (cpu_table(doc, nproc, "naive"), cpu_table(doc, nproc, "service"), burst_table(doc),
                           latency_table(doc), proxy_table(doc), hanging_table(doc)) if x]
    tables.append(goals_table(doc))
    return tables


def json_doc(doc: dict) -> dict:
    """The figures for --json: everything but the raw latency samples (the CDFs stay)."""
    out = {k: v for k, v in doc.items()}
    strip = lambda lat: lat and {k: v for k, v in lat.items() if k != "samples"}  # noqa: E731
    out["latency"] = strip(doc["latency"])
    if doc["hanging"]:
        out["hanging"] = {**doc["hanging"], "paced": strip(doc["hanging"]["paced"]),
                          "reference_paced": strip(doc["hanging"]["reference_paced"]), "figures": hanging_figures(doc)}
    out["ceilings"] = ceilings(doc)
    out["goals"] = [{k: v for k, v in g.items() if k != "fmt"} for g in goals(doc)]
    return out
