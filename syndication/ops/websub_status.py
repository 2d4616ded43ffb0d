"""Our own WebSub hub as ops see it: subscriptions per topic, subscribers' delivery health in aggregate.

    summary(ctx, now)   -> {"topics": [...], "totals": {...}, "by_format": {...}, "subscribers": {...},
                            "ended": {reason: n}}

Read by `status` (so `syndication status`, `/ops` and `/metrics` show the same numbers). Never one
line per subscriber: a hub may have thousands, so subscribers' health is counted (circuits open,
deliveries waiting, the oldest wait), over the subscribers that have work (`websub:busy`, the
index the sweeper pumps, delivery/targets.py), not over every subscription. A subscriber without
work has nothing to wait for; its circuit only matters when work comes.
"""

from __future__ import annotations

import time
from typing import Any

from syndication.delivery import subscription_ends, subscriptions, targets
from syndication.delivery.schedule import DueSchedule
from syndication.feeds.spec import FEED_FORMATS
from syndication.identity import feed_url
from syndication.infra.context import Context

STATES = (subscriptions.ACTIVE, subscriptions.PENDING)


def topics(ctx: Context, now: float) -> list[dict[str, Any]]:
    """Every public feed's topic in each format with its subscriptions by state (0s included: a topic
    nobody subscribed to is a fact too), then any topic of a feed no longer configured."""
    counts = subscriptions.topic_counts(ctx, now)
    out, base = [], ctx.settings.base_url
    for spec in ctx.settings.feeds:
        if spec.access != "public":
            continue
        for fmt in FEED_FORMATS:
            url = feed_url(base, spec.name, fmt)
            found = counts.pop(url, {})
            out.append({"topic": url, "feed": spec.name, "format": fmt,
                        **{s: found.get(s, 0) for s in STATES}})
    for url, found in sorted(counts.items()):  # a feed removed from the feeds file since they subscribed
        name, _, fmt = url.rpartition("/")[2].rpartition(".")
        out.append({"topic": url, "feed": name, "format": fmt, **{s: found.get(s, 0) for s in STATES}})
    return out


def subscriber_health(ctx: Context, now: float) -> dict[str, Any]:
    """Over the subscribers with work: how many, their circuits open, deliveries waiting, the oldest wait."""
    ids = [m.decode() for m in ctx.redis.zrange(ctx.keys.websub_busy, 0, targets.SWEEP_MAX - 1)]
    pipe = ctx.redis.pipeline(transaction=False)
    for tid in ids:
        sched = DueSchedule(ctx, tid)
        pipe.zcard(sched.due)
        pipe.zcard(sched.inflight)
        pipe.zrange(sched.due, 0, 0)
        pipe.zrange(sched.inflight, 0, 0)
        pipe.hget(ctx.keys.partner_circuit(tid), "state")
    replies = pipe.execute()
    waiting = circuits_open = subscribers_waiting = 0
    firsts: list[str] = []
    for i in range(len(ids)):
        due, inflight, first_due, first_inflight, state = replies[i * 5:(i + 1) * 5]
        n = int(due) + int(inflight)
        waiting += n
        subscribers_waiting += 1 if n else 0
        circuits_open += 1 if state == b"open" else 0
        firsts += [d.decode() for d in (*first_due, *first_inflight)]
    oldest = None
    if firsts:
        p2 = ctx.redis.pipeline(transaction=False)
        for did in firsts:
            p2.hget(ctx.keys.delivery(did), "created_at")
        created = [float(c) for c in p2.execute() if c]
        oldest = max(0.0, now - min(created)) if created else None
    return {"with_work": len(ids), "waiting_subscribers": subscribers_waiting, "circuits_open": circuits_open,
            "deliveries_waiting": waiting, "oldest_waiting_seconds": oldest}


def summary(ctx: Context, now: float | None = None) -> dict[str, Any]:
    now = now or time.time()
    per_topic = topics(ctx, now)
    by_format = {fmt: {s: 0 for s in STATES} for fmt in FEED_FORMATS}
    for t in per_topic:
        row = by_format.setdefault(t["format"], {s: 0 for s in STATES})
        for s in STATES:
            row[s] += t[s]
    return {
        "own_hub": ctx.settings.websub_own_hub,
        "hub": ctx.settings.websub_hub,
        "topics": per_topic,
        "totals": {s: sum(t[s] for t in per_topic) for s in STATES},
        "by_format": by_format,
        "subscribers": subscriber_health(ctx, now),
        "ended": subscription_ends.counts(ctx),
        "ended_retention_seconds": ctx.settings.websub_ended_retention,
    }
