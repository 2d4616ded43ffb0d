"""What the WAN benchmark prints: fan-out, steady, crowd, CPU by role, the ledgers and the goals.

`summarise` turns a scenario's raw results into one row per design (a fan-out's first event is
"cold": it opens the connections; the median of the others is "warm"). `goals` checks issue 23's
goals against this run, each with the ratio to the same-run baseline (the raw client, and naive).
"""

from __future__ import annotations

import statistics

from benchmarks.harness import report

NAN = float("nan")
INF = float("inf")  # "did not complete within the event timeout" (printed so, stored as null)


def _med_event(events: list[dict]) -> dict | None:
    """The median event by completion; one that did not complete counts as slowest."""
    if not events:
        return None
    ranked = sorted(events, key=lambda e: INF if e.get("completion_s") is None else e["completion_s"])
    return ranked[(len(ranked) - 1) // 2]


def _gave_up(ev: dict) -> bool:
    """Finished without every partner having it: a design with no retries gave up on some (raw, naive)."""
    return ev.get("completion_s") is None and not ev.get("timed_out") and ev.get("last_s") is not None


def _completion(ev: dict) -> float:
    """202 -> last partner; for a design that gave up on some, its last delivery; INF when cut by the timeout."""
    if ev.get("completion_s") is not None:
        return ev["completion_s"]
    return ev["last_s"] if _gave_up(ev) else INF


def summarise(res: dict) -> dict:
    """One fan-out design's row: cold and warm completion, rate, latency, CPU, connections."""
    if "error" in res:
        return {"design": res["design"], "error": res["error"]}
    evs = res["events"]
    cold = evs[0] if evs else {}
    warm = _med_event(evs[1:]) or _med_event(evs[:1]) or {}
    cpu = warm.get("cpu_ms_per_delivery", {})
    service_cpu = sum(v for k, v in cpu.items() if k not in ("machine",))
    return {"design": res["design"], "describe": res.get("describe", ""), "events": len(evs),
            "cold_s": _completion(cold), "warm_s": _completion(warm),
            "gave_up": warm.get("expected", 0) - warm.get("received", 0) if _gave_up(warm) else 0,
            "received": sum(e["received"] for e in evs), "expected": sum(e["expected"] for e in evs),
            "rate": warm.get("rate", NAN), "p50": warm.get("latency", {}).get("p50", NAN),
            "p99": warm.get("latency", {}).get("p99", NAN), "cpu_ms": service_cpu, "cpu_by_role": cpu,
            "share_by_role": {k: v / warm["last_s"] for k, v in warm.get("cpu_s", {}).items()}
            if warm.get("last_s") else {},
            "conns_cold": cold.get("connections"), "conns_warm": warm.get("connections"),
            "in_flight": warm.get("in_flight"), "machine_pct": warm.get("machine_busy_pct"),
            "timed_out": any(e.get("timed_out") for e in evs), "ledger": res["ledger"]}


def _s(x, unit: str = " s", digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "-"
    if x == INF:
        return "not all"
    return f"{x:,.{digits}f}{unit}"


def _ms(x) -> str:
    return _s(None if x is None else (x if x == INF else 1000 * x), " ms", 0)


def _ledger(ld: dict | None) -> str:
    if not ld:
        return "-"
    word = "ok" if ld["balanced"] else "VOID"
    rest = {k: v for k, v in (ld.get("states") or {}).items() if k != "delivered"}  # what "lost" is, by state
    return f"{word}: {ld['expected']} = {ld['received']} + {ld['lost']}" + (
        f", {ld['duplicates']} dup" if ld.get("duplicates") else "") + (
        " (" + ", ".join(f"{v} {k}" for k, v in sorted(rest.items())) + ")" if rest else "")


def fanout_table(scen: list[dict]):
    t = report.table("Fan-out: one event to every partner (cold = first event, opens the connections; warm = "
                     "median of the others). Completion: 202 -> last partner has it (raw: from its start; a "
                     "design with no retries that lost some: its last delivery).",
                     ["scenario", "design", "cold", "warm", "deliveries/s", "p50", "p99", "in flight", "CPU/delivery",
                      "conns cold/warm", "ledger"], left=("scenario", "design"))
    for sc in scen:
        if sc["shape"] != "fanout":
            continue
        for res in sc["results"]:
            s = summarise(res)
            if "error" in s:
                t.add_row(f"({sc['key']}) {sc['partners']}", s["design"], "FAILED", "", "", "", "", "", "", "", "")
                continue
            t.add_row(f"({sc['key']}) {sc['partners']} partners{' TLS' if sc['tls'] else ''}", s["design"],
                      _s(s["cold_s"]), _s(s["warm_s"]) + (" (timed out)" if s["timed_out"] else "") + (
                          f" ({s['gave_up']} lost)" if s["gave_up"] else ""),
                      _s(s["rate"], "", 0), _ms(s["p50"]), _ms(s["p99"]), str(s["in_flight"]), _s(s["cpu_ms"], " ms", 2),
                      f"{s['conns_cold']}/{s['conns_warm']}", _ledger(s["ledger"]))
    return t


def cpu_table(scen: list[dict]):
    t = report.table("CPU by process role, warm fan-out event: ms per delivery (share of one core while it ran); "
                     "the whole machine's CPU busy meanwhile (other processes included)",
                     ["scenario", "design", "by role", "machine busy"], left=("scenario", "design", "by role"))
    for sc in scen:
        if sc["shape"] != "fanout":
            continue
        for res in sc["results"]:
            s = summarise(res)
            if "error" in s:
                continue
            parts = [f"{k} {v:.2f} ms ({100 * s['share_by_role'].get(k, 0):.0f}%)"
                     for k, v in sorted(s["cpu_by_role"].items(), key=lambda kv: -kv[1])]
            t.add_row(f"({sc['key']})", s["design"], ", ".join(parts), _s(s["machine_pct"], " %", 0))
    return t


def steady_table(scen: list[dict]):
    t = report.table("Steady stream: scheduled send -> partner has it, per delivery",
                     ["scenario", "design", "delivered", "p50", "p90", "p99", "max", "deliveries/s",
                      "CPU/delivery", "conns", "ledger"], left=("scenario", "design"))
    for sc in scen:
        if sc["shape"] != "steady":
            continue
        for r in sc["results"]:
            if "error" in r:
                t.add_row(f"({sc['key']})", r["design"], "FAILED", "", "", "", "", "", "", "", "")
                continue
            lat = r["latency"]
            t.add_row(f"({sc['key']}) {r['rate']:g}/s x {sc['partners']}", r["design"],
                      f"{r['received']}/{r['expected']}" + (" (timed out)" if r["timed_out"] else ""),
                      _ms(lat["p50"]), _ms(lat["p90"]), _ms(lat["p99"]), _ms(lat["max"]),
                      _s(r["rate_delivered"], "", 0), _s(sum(r["cpu_ms_per_delivery"].values()), " ms", 2),
                      str(r["connections"]), _ledger(r["ledger"]))
    return t


def crowd_table(scen: list[dict]):
    t = report.table("Crowd: healthy partners' publish -> push while others are slow or hang",
                     ["scenario", "healthy p50", "p95", "p95 1st s", "slow p50", "p95", "breaking -> healthy",
                      "requests that hung", "hung at once", "ledger"], left=("scenario",))
    for sc in scen:
        if sc["shape"] != "crowd":
            continue
        for r in sc["results"]:
            if "error" in r:
                t.add_row(f"({sc['key']}) {r['design']}", "FAILED", "", "", "", "", "", "", "", "")
                continue
            t.add_row(f"({sc['key']}) {r['design']}", _ms(r["healthy"]["p50"]), _ms(r["healthy"]["p95"]),
                      _ms(r["healthy_first_second"]["p95"]), _ms(r["slow"]["p50"]), _ms(r["slow"]["p95"]),
                      _s(r["breaking_to_healthy_s"]), str(r["hanging_requests"]), str(r["hung_at_once"]),
                      _ledger(r["ledger"]))
    return t


def _find(scen: list[dict], key: str) -> dict | None:
    return next((s for s in scen if s["key"] == key), None)


def _design(sc: dict | None, name: str) -> dict | None:
    if not sc:
        return None
    return next((r for r in sc["results"] if r.get("design") == name and "error" not in r), None)


def goals(scen: list[dict]) -> list[dict]:
    """Issue 23's goals measured here: value, goal, same-run baselines, PASS/MISS (or '-' when not run)."""
    rows = []

    def add(goal: str, value, limit: float, unit: str, baselines: dict[str, float | None], note: str = ""):
        ok = value is not None and value == value and value <= limit
        ratios = {k: (value / b if value is not None and b else None) for k, b in baselines.items()}
        rows.append({"goal": goal, "value": value, "limit": limit, "unit": unit, "baselines": baselines,
                     "ratios": ratios, "result": "-" if value is None else ("PASS" if ok else "MISS"), "note": note})

    for key, limit in (("a", 1.0), ("b", 0.8)):
        sc = _find(scen, key)
        s = {n: summarise(r) if r else None for n in ("service", "raw", "naive") for r in [_design(sc, n)]}
        if sc:
            add(f"breaking story, {sc['partners']} partners at {sc['profiles']['fixed']['rtt_ms']} ms: 202 -> last "
                f"partner (warm)", s["service"] and s["service"]["warm_s"], limit, "s",
                {"raw": s["raw"] and s["raw"]["warm_s"], "naive": s["naive"] and s["naive"]["warm_s"]})
    sc = _find(scen, "a")
    if sc:
        svc, raw = _design(sc, "service"), _design(sc, "raw")
        add(f"CPU per delivery, all service processes, {sc['partners']} partners x 1 delivery (warm)",
            svc and summarise(svc)["cpu_ms"], 1.0, "ms", {"raw": raw and summarise(raw)["cpu_ms"]})
    sc = _find(scen, "c")
    if sc:
        svc, raw, nv = _design(sc, "service"), _design(sc, "raw"), _design(sc, "naive")
        v = svc and (svc["latency"]["p99"] if not svc["timed_out"] and svc["received"] == svc["expected"] else
                     float("inf"))
        add(f"steady {sc['results'][0].get('rate', 1):g} event/s x {sc['partners']} at 100 ms: keeps up, p99 "
            f"publish -> push", v, 0.3, "s", {"raw": raw and raw["latency"]["p99"], "naive": nv and nv["latency"]["p99"]},
            "inf: did not deliver everything within the event timeout" if v == float("inf") else "")
    sc = _find(scen, "d")
    if sc:
        svc = _design(sc, "service")
        add("crowd: healthy partners' p95 publish -> push (whole stream)", svc and svc["healthy"]["p95"], 1.0, "s",
            {"round trip": 0.1})
        add("crowd: healthy partners' p95 in the stream's first second", svc and svc["healthy_first_second"]["p95"],
            1.0, "s", {"round trip": 0.1})
        v = svc and (svc["breaking_to_healthy_s"] if svc["breaking_to_healthy_s"] is not None else float("inf"))
        add("crowd: a breaking story after the stream reaches the healthy partners", v, 1.0, "s", {"round trip": 0.1})
    return rows


def goals_table(rows: list[dict]):
    t = report.table("Goals of issue 23 (ratios: this run's value / the same run's baseline)",
                     ["goal", "measured", "goal ", "x raw", "x naive", "result"], left=("goal",))
    for g in rows:
        unit = g["unit"]
        fmt = (lambda x: _ms(x)) if unit == "s" else (lambda x: _s(x, " ms", 2))
        r = g["ratios"]
        raw = r.get("raw", r.get("round trip"))
        label = "x raw" if "raw" in r else "x round trip"
        t.add_row(g["goal"] + (f" ({g['note']})" if g["note"] else ""), fmt(g["value"]),
                  f"<= {fmt(g['limit'])}", (f"{raw:.1f}" + ("" if label == "x raw" else " (x RTT)")) if raw else "-",
                  f"{r['naive']:.1f}" if r.get("naive") else "-", g["result"])
    return t


def void_ledgers(scen: list[dict]) -> list[str]:
    out = []
    for sc in scen:
        for r in sc["results"]:
            ld = r.get("ledger")
            if ld and not ld["balanced"]:
                out.append(f"({sc['key']}) {r['design']}: expected {ld['expected']}, received {ld['received']}, lost "
                           f"{ld['lost']}, the design counts {ld['sender_delivered']} delivered, {ld['unexpected']} "
                           f"unexpected; {ld.get('states', '')} {ld.get('note', '')}")
    return out


def median(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else NAN
