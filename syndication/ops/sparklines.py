"""The last hour of a partner's pushes, minute by minute: what the sparklines of /ops and the portal draw.

    minutes = per_minute(recent, now)    # recent: LRANGE partner:{id}:recent, newest first
    minutes["attempts"], minutes["failures"], minutes["p95_ms"], minutes["per_second"]   # 60 points each

The only per-attempt history kept is `partner:{id}:recent`: the newest RECENT_KEPT attempts
("time,latency_s,ok", written by delivery/outcome_group.py, the same place that counts
syndication_delivery_attempts_total). So the hour is exact unless a partner had more than
RECENT_KEPT attempts in it; then `complete` is False and `covers_from` says where the kept
attempts start (the pages say so). Pure: no Redis, no clock; the drawing is api/svg.py.
"""

from __future__ import annotations

from typing import Any

from syndication.ops.status import RECENT_KEPT, p95

MINUTES = 60
STEP = 60.0  # seconds per point


def _rows(recent: list[bytes | str]) -> list[tuple[float, float, bool]]:
    rows = []
    for line in recent:
        t, lat, ok = (line.decode() if isinstance(line, bytes) else line).split(",")
        rows.append((float(t), float(lat), ok == "1"))
    return rows


def per_minute(recent: list[bytes | str], now: float, minutes: int = MINUTES) -> dict[str, Any]:
    """Attempts, failures, attempts per second and p95 latency (ms, None for a quiet minute) per minute
    of the last `minutes`, oldest first; the last point is the minute ending at `now`."""
    start = now - minutes * STEP
    latencies: list[list[float]] = [[] for _ in range(minutes)]
    attempts, failures = [0] * minutes, [0] * minutes
    rows = _rows(recent)
    for t, lat, ok in rows:
        if not start < t <= now:
            continue
        i = min(minutes - 1, int((t - start) // STEP))
        attempts[i] += 1
        failures[i] += not ok
        latencies[i].append(lat)
    full = len(rows) >= RECENT_KEPT
    oldest = min((t for t, _, _ in rows), default=None)
    complete = not full or oldest is None or oldest <= start
    return {
        "start": start,
        "end": now,
        "step": STEP,
        "attempts": attempts,
        "failures": failures,
        "per_second": [round(n / STEP, 3) for n in attempts],
        "p95_ms": [None if not lats else round(p95(lats) * 1000, 1) for lats in latencies],
        "complete": complete,
        "covers_from": start if complete else oldest,
    }


def drawn(partners: list[dict[str, Any]], hours: dict[str, dict[str, Any]]) -> tuple[list, list[str]]:
    """(partners worth a sparkline, ids of the quiet ones): quiet is no attempt in the hour, nothing
    waiting and the circuit closed. The quiet are named in one line, so the partners with a story
    are not lost among thirty flat lines."""
    busy, idle = [], []
    for p in partners:
        still = (not sum(hours[p["id"]]["attempts"]) and not p.get("waiting")
                 and p.get("circuit", "closed") == "closed")
        (idle.append(p["id"]) if still else busy.append(p))
    return busy, idle


def queue_ages(partners: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The oldest waiting delivery of each partner with work waiting, and how many wait, oldest first
    (status.partner_status lines)."""
    rows = [{"id": p["id"], "age": p.get("oldest_waiting_seconds") or 0.0, "waiting": p.get("waiting", 0)}
            for p in partners if p.get("waiting")]
    return sorted(rows, key=lambda r: (-r["age"], r["id"]))


def timeline(incidents: list[dict[str, Any]], now: float, since: float) -> list[dict[str, Any]]:
    """Incidents as spans on [since, now]: partner, start, end (now while ongoing), clipped to the window."""
    spans = []
    for i in incidents:
        begin = i.get("started_at") or i.get("opened_at")
        if begin is None:
            continue
        end = i.get("ended_at") or now
        if end < since:
            continue
        spans.append({"partner": i.get("partner", ""), "start": max(float(begin), since), "end": float(end),
                      "ongoing": not i.get("ended_at")})
    return sorted(spans, key=lambda s: s["start"])
