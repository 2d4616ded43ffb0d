"""What the partners saw, read from the receiver's log: deliveries, latencies, connections, the ledger.

The receiver logs every request as [partner, article, attempt, status (0: hung), t arrived,
t partner has it, t answered, new connection, webhook-id] (harness/wan_partner.py).

The ledger: expected = received + lost, where received are the (partner, article) pairs the
receiver answered 2xx and lost is what the design itself counts as not delivered (raw: its
failed POSTs; naive: its tasks' `lost` counter; service: deliveries whose record is not
`delivered`). The design's own count of delivered must equal received, and no push may arrive
that was not expected. A run whose ledger does not balance is void (tables.py says so).
"""

from __future__ import annotations

from benchmarks.harness.report import quantile


def quantiles(xs: list[float]) -> dict:
    return {"n": len(xs), "p50": quantile(xs, 0.5), "p90": quantile(xs, 0.9), "p95": quantile(xs, 0.95),
            "p99": quantile(xs, 0.99), "max": max(xs) if xs else float("nan")}


def deliveries(log: list[list], articles: set[str]) -> dict[tuple[str, str], float]:
    """(partner, article) -> when the partner had it (its first 2xx attempt), for these articles."""
    got: dict[tuple[str, str], float] = {}
    for pid, art, _attempt, status, _t, has, _ans, _new, _wid in log:
        if status == 200 and art in articles and (pid, art) not in got:
            got[(pid, art)] = has
    return got


def per_event(log: list[list], article: str, t0: float, t_sched: float, n: int) -> dict:
    """One fan-out event: completion from t0 (the 202, or raw's start), per-delivery latency from
    t_sched, deliveries/s, requests, connections opened, 5xx and hung answers."""
    mine = [e for e in log if e[1] == article]
    has = sorted(deliveries(mine, {article}).values())
    last = has[-1] if has else float("nan")
    # Completion only when every partner has it (an event cut by the timeout has none).
    return {"article": article, "received": len(has), "expected": n,
            "completion_s": last - t0 if has and len(has) >= n else None,
            "last_s": last - t0 if has else None,
            "in_flight": in_flight(mine),
            "latency": quantiles([h - t_sched for h in has]), "rate": len(has) / (last - t0) if has and last > t0
            else float("nan"), "requests": len(mine), "connections": sum(1 for e in mine if e[7]),
            "answered_5xx": sum(1 for e in mine if e[3] == 503), "hung": sum(1 for e in mine if e[3] == 0)}


def in_flight(entries: list[list]) -> int:
    """The most requests the partners held at once (arrived, not yet answered; a hung one until the end)."""
    marks = sorted([(e[4], 1) for e in entries] + [(e[6], -1) for e in entries if e[6] is not None],
                   key=lambda m: (m[0], m[1]))
    most = now = 0
    for _, step in marks:
        now += step
        most = max(most, now)
    return most


def ledger(log: list[list], expected: set[tuple[str, str]], sender_ok: int, lost: int, note: str = "") -> dict:
    ok = [(e[0], e[1]) for e in log if e[3] == 200]
    received = set(ok) & expected
    unexpected = set(ok) - expected
    balanced = len(expected) == len(received) + lost and sender_ok == len(received) and not unexpected
    return {"expected": len(expected), "received": len(received), "lost": lost, "sender_delivered": sender_ok,
            "duplicates": len(ok) - len(set(ok)), "unexpected": len(unexpected), "balanced": balanced,
            "note": note}


def check_signed(run, what: str) -> None:
    """The first signed push the receiver kept verifies against the run's secret (Standard Webhooks)."""
    from benchmarks.pushbench.workload import signature

    sample = run.wp.sample()
    if sample is None:
        run.errors.append(f"{what}: no signed push arrived")
    elif signature(run.secret, sample["id"], sample["timestamp"], sample["body"]) not in sample["signature"].split():
        run.errors.append(f"{what}: push {sample['id']} does not verify against the run's secret")


def cdf(xs: list[float], points: int = 100) -> list[list[float]]:
    xs = sorted(xs)
    if not xs:
        return []
    idx = sorted({min(len(xs) - 1, round(k * (len(xs) - 1) / (points - 1))) for k in range(points)})
    return [[xs[i], (i + 1) / len(xs)] for i in idx]
