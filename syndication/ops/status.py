"""What ops need to see, read from Redis in one pass: queues, partners, retries, dead letters.

Used by `syndication status`, `/ops`, and the live gauges of `/metrics`.
Workers online is not here: asking Celery needs Celery, so the CLI (the
composition root) adds it.
"""

from __future__ import annotations

import time
from typing import Any

from syndication.infra.context import Context
from syndication.delivery import circuit
from syndication.infra.keys import QUEUES

# kombu's Redis transport keeps priority sub-queues beside each queue: name + "\x06\x16" + priority.
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def human_age(seconds: float | None) -> str:
    """90 -> '1.5m': ages for people reading a status screen."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def queue_depths(ctx: Context) -> tuple[dict[str, int], int]:
    pipe = ctx.redis.pipeline(transaction=False)
    for q in QUEUES:
        for suffix in PRIORITY_SUFFIXES:
            pipe.llen(ctx.keys.celery_queue(q + suffix))
    pipe.hlen(ctx.keys.celery_unacked)
    res = pipe.execute()
    n = len(PRIORITY_SUFFIXES)
    depths = {q: sum(res[i * n:(i + 1) * n]) for i, q in enumerate(QUEUES)}
    return depths, res[-1]


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


def partner_status(ctx: Context, partner, now: float) -> dict[str, Any]:
    k = ctx.keys
    pipe = ctx.redis.pipeline(transaction=False)
    pipe.zcount(k.partner_due(partner.id), "-inf", now)
    pipe.zcount(k.partner_due(partner.id), f"({now}", "+inf")
    pipe.zcard(k.partner_inflight(partner.id))
    pipe.zrange(k.partner_due(partner.id), 0, 99)
    pipe.lrange(k.partner_recent(partner.id), 0, 999)
    pipe.zcard(k.partner_parked(partner.id))
    ready, scheduled, inflight, first_ids, recent, parked = pipe.execute()
    health = circuit.health(ctx, partner.id)
    oldest = None
    if first_ids:
        p2 = ctx.redis.pipeline(transaction=False)
        for did in first_ids:
            p2.hget(k.delivery(did.decode()), "created_at")
        created = [float(c) for c in p2.execute() if c]
        oldest = now - min(created) if created else None
    hour = [line.decode().split(",") for line in recent]
    hour = [(float(t), float(lat), ok == "1") for t, lat, ok in hour if float(t) >= now - 3600]
    return {
        "id": partner.id,
        "url": partner.url,
        "enabled": partner.enabled and not health["disabled"],
        "paused": health["paused"],
        "circuit": health.get("state", "closed"),
        "consecutive_failures": int(health.get("failures") or 0),
        "failing_since": float(health["failing_since"]) if health.get("failing_since") else None,
        "last_success_at": float(health["last_success_at"]) if health.get("last_success_at") else None,
        "disabled_reason": health.get("disabled_reason") if health["disabled"] else None,
        "waiting": ready + scheduled + inflight,
        "ready": ready,
        "in_flight": inflight,
        "scheduled_retries": scheduled,
        "parked": parked,
        "oldest_waiting_seconds": oldest,
        "attempts_last_hour": len(hour),
        "success_rate_last_hour": (sum(ok for _, _, ok in hour) / len(hour)) if hour else None,
        "p95_latency_ms_last_hour": round(_p95([lat for _, lat, _ in hour]) * 1000, 1) if hour else None,
    }


def status(ctx: Context, now: float | None = None) -> dict[str, Any]:
    now = now or time.time()
    depths, unacked = queue_depths(ctx)
    partners = [partner_status(ctx, p, now) for p in ctx.settings.push_targets]
    return {
        "at": now,
        "queues": depths,
        "unacked": unacked,
        "events_pending": ctx.redis.zcard(ctx.keys.events_pending),
        "partners": partners,
        "scheduled_retries": sum(p["scheduled_retries"] for p in partners),
        "dead_letters": ctx.redis.zcard(ctx.keys.deadletters),
        "dead_events": ctx.redis.zcard(ctx.keys.events_dead),
        "feeds_dirty": ctx.redis.zcard(ctx.keys.feeds_dirty),
    }
