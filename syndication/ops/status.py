"""What ops need to see, read from Redis in one pass, and the one judgement of whether it is healthy.

`status(ctx)` is used by `syndication status`, `/ops` and the live gauges of
`/metrics`: queues, partners (waiting, retrying, the last failure's why),
workers from their heartbeats (ops/heartbeats.py), the sweeper's last run,
Redis memory, dead letters and dead events, our WebSub hub's subscriptions.

`problems(status)` is the single place that decides what is wrong and how
badly (critical / warning): the `/ops` banner and `syndication status
--check` both print what it returns, so they can never disagree.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from syndication.delivery import circuit, deadletters, ratelimit, schedule
from syndication.infra.context import Context
from syndication.infra.keys import QUEUES
from syndication.ops import heartbeats, websub_status

# kombu's Redis transport keeps priority sub-queues beside each queue: name + "\x06\x16" + priority.
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
# How many of a partner's due and in-flight ids are read for the oldest age and the retrying count.
SAMPLE = 100

FAILING_CRITICAL_AFTER = 300.0  # a partner failing this long is an incident, not a blip
OLDEST_WARNING_AFTER = 300.0
SWEEPER_CRITICAL_AFTER = 30.0  # it runs every second: 30 s silent means nothing pumps retries
MEMORY_WARNING_RATIO = 0.8


def human_age(seconds: float | None) -> str:
    """90 -> '1.5m': ages for people reading a status screen."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def utc_clock(ts: float) -> str:
    """12:01:03Z: a time of day with its zone, for one-line messages."""
    return f"{datetime.fromtimestamp(ts, timezone.utc):%H:%M:%SZ}"


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


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


def _float(value) -> float | None:
    return float(value) if value not in (None, "") else None


RECENT_KEPT = 1000  # attempts kept per partner in partner:{id}:recent (delivery/recording.py)


def attempt_stats(recent: list[bytes], since: float) -> dict[str, Any]:
    """Attempts, success rate and p95 latency of a partner's recent attempts (`partner:{id}:recent`,
    newest first: "time,latency,ok") made since `since`. `complete` is False when the list is full
    and its oldest attempt is newer than `since`: the figures then cover only the newest RECENT_KEPT."""
    rows = [line.decode().split(",") for line in recent]
    rows = [(float(t), float(lat), ok == "1") for t, lat, ok in rows]
    window = [r for r in rows if r[0] >= since]
    return {
        "attempts": len(window),
        "success_rate": (sum(ok for _, _, ok in window) / len(window)) if window else None,
        "p95_latency_ms": round(p95([lat for _, lat, _ in window]) * 1000, 1) if window else None,
        "complete": len(rows) < RECENT_KEPT or rows[-1][0] < since,
    }


def partner_status(ctx: Context, partner, now: float) -> dict[str, Any]:
    """One partner's line of the status screen.

    `oldest_waiting_seconds` and `retrying` look at the first SAMPLE due ids (by due time) and
    the first SAMPLE in-flight ids (claimed by a batch, not yet answered): exact unless more than
    that many wait. `retrying` = scheduled retries + sampled ready/in-flight deliveries whose
    record says "retrying" (failed at least once).
    """
    k = ctx.keys
    pipe = ctx.redis.pipeline(transaction=False)
    schedule.DueSchedule(ctx, partner.id).queue_counts(pipe, now, SAMPLE)
    pipe.lrange(k.partner_recent(partner.id), 0, 999)
    deadletters.queue_parked_count(pipe, k, partner.id)
    ready, scheduled, inflight, first_ids, inflight_ids, recent, parked = pipe.execute()
    health = circuit.health(ctx, partner.id)
    limiter = ratelimit.state(ctx, partner.id, now)
    waiting_ids = list(dict.fromkeys([*first_ids, *inflight_ids]))  # a retry's first id may be due later
    recently_failed = set(first_ids[:ready]) | set(inflight_ids)  # due by now come first
    oldest, retrying_now = None, 0
    if waiting_ids:
        p2 = ctx.redis.pipeline(transaction=False)
        for did in waiting_ids:
            p2.hmget(k.delivery(did.decode()), "created_at", "status")
        rows = p2.execute()
        created = [float(c) for c, _ in rows if c]
        oldest = max(0.0, now - min(created)) if created else None
        retrying_now = sum(1 for did, (_, st) in zip(waiting_ids, rows)
                           if did in recently_failed and st == b"retrying")
    hour = attempt_stats(recent, now - 3600)
    return {
        "id": partner.id,
        "url": partner.url,
        "enabled": partner.enabled and not health["disabled"],
        "paused": health["paused"],
        "circuit": health.get("state", "closed"),
        "consecutive_failures": int(health.get("failures") or 0),
        "failing_since": _float(health.get("failing_since")),
        "last_success_at": _float(health.get("last_success_at")),
        "last_failure_at": _float(health.get("last_failure_at")),
        "last_status": int(health["last_status"]) if (health.get("last_status") or "").isdigit() else None,
        "last_error": health.get("last_error") or None,
        "incident": health.get("incident") or None,
        "disabled": health["disabled"],  # by a 410 Gone (not by the partners file)
        "disabled_reason": health.get("disabled_reason") if health["disabled"] else None,
        "waiting": ready + scheduled + inflight,
        # Held back by its rate limit now (its `ready` deliveries wait for it) and until when.
        "rate_limit": None if partner.rate_limit is None else str(partner.rate_limit),  # "5/1s, burst 5"
        "throttled": limiter["throttled"] and ready > 0,
        "throttled_until": limiter["until"] if ready else None,
        "ready": ready,
        "in_flight": inflight,
        "scheduled_retries": scheduled,
        "retrying": scheduled + retrying_now,
        "parked": parked,
        "oldest_waiting_seconds": oldest,
        "attempts_last_hour": hour["attempts"],
        "success_rate_last_hour": hour["success_rate"],
        "p95_latency_ms_last_hour": hour["p95_latency_ms"],
    }


def redis_memory(ctx: Context) -> dict[str, Any]:
    """Used memory against maxmemory, and a warning when Redis could drop or refuse delivery state:
    no maxmemory (it grows until the host kills it) or an evicting policy (it deletes keys)."""
    info = ctx.redis.info("memory")
    used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
    policy = info.get("maxmemory_policy", "noeviction")
    policy = policy.decode() if isinstance(policy, bytes) else str(policy)
    warning = None
    if policy != "noeviction":
        warning = f"Redis maxmemory-policy {policy} evicts keys: delivery state can be deleted (use noeviction)"
    elif not limit:
        warning = "Redis has no maxmemory: it grows until the host runs out of memory"
    return {"used_memory": used, "maxmemory": limit, "policy": policy, "warning": warning}


def sweeper(ctx: Context, now: float) -> dict[str, float | None]:
    last = _float(ctx.redis.get(ctx.keys.sweeper_last_run))
    return {"last_run": last, "age": max(0.0, now - last) if last is not None else None}


def by_host(roster: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """host -> {"online": [names], "missing": [names], "queues": {queue: online count}}: a host gone
    (kill, link down) shows as one host with every worker missing, not as scattered names."""
    out: dict[str, dict[str, Any]] = {}
    for w in roster:
        host = out.setdefault(w.get("host") or "?", {"online": [], "missing": [], "queues": {}})
        host["online" if w["online"] else "missing"].append(w["name"])
        if w["online"]:
            for q in w.get("queues", []):
                host["queues"][q] = host["queues"].get(q, 0) + 1
    return dict(sorted(out.items()))


def engine_summary(roster: list[dict[str, Any]], targets) -> dict[str, Any]:
    """The delivery engines online (delivery/engine.py, from heartbeats): pushes in flight they allow and
    have busy, beside what partners may hold (their `max_in_flight`, largest and summed)."""
    engines = [w["engine"] for w in roster if w.get("online") and w.get("engine")]
    return {"processes": len(engines), "pushers": sum(e.get("pushers", 0) for e in engines),
            "busy": sum(e.get("busy", 0) for e in engines),
            "partner_max_in_flight": max((p.max_in_flight for p in targets), default=0),
            "partner_max_in_flight_sum": sum(p.max_in_flight for p in targets)}


def topology(settings) -> dict[str, Any]:
    """The process topology this process's settings decide (settings/model.py), and their version."""
    return {"settings_version": settings.version, "delivery_processes": settings.delivery_processes,
            "worker_pool": settings.worker_pool, "worker_threads": settings.worker_threads,
            "delivery_in_flight": settings.delivery_in_flight, "redis_pool_size": settings.redis_pool_size,
            "api_redis_pool_size": settings.api_redis_pool_size}


def status(ctx: Context, now: float | None = None) -> dict[str, Any]:
    now = now or time.time()
    depths, unacked = queue_depths(ctx)
    partners = [partner_status(ctx, p, now) for p in ctx.settings.targets]
    roster = heartbeats.roster(ctx, now)
    return {
        "at": now,
        "queues": depths,
        "unacked": unacked,
        "events_pending": ctx.redis.zcard(ctx.keys.events_pending),
        "partners": partners,
        "scheduled_retries": sum(p["scheduled_retries"] for p in partners),
        "retrying": sum(p["retrying"] for p in partners),
        "dead_letters": ctx.redis.zcard(ctx.keys.deadletters),
        "dead_events": ctx.redis.zcard(ctx.keys.events_dead),
        "feeds_dirty": ctx.redis.zcard(ctx.keys.feeds_dirty),
        "workers": {"queues": heartbeats.by_queue(roster), "hosts": by_host(roster), "list": roster},
        "engine": engine_summary(roster, ctx.settings.targets),
        "topology": topology(ctx.settings),
        "sweeper": sweeper(ctx, now),
        "redis": redis_memory(ctx),
        "websub": websub_status.summary(ctx, now),  # our own hub's subscriptions (ops/websub_status.py)
    }


def _why(p: dict) -> str:
    parts = [f"HTTP {p['last_status']}" if p.get("last_status") else "", p.get("last_error") or ""]
    why = ": ".join(x for x in parts if x)
    return f" ({why if len(why) <= 80 else why[:79] + '…'})" if why else ""


def _partner_problems(p: dict, now: float) -> list[dict[str, str]]:
    what, out = f"partner:{p['id']}", []

    def add(severity: str, text: str) -> None:
        out.append({"severity": severity, "what": what, "text": text})

    since = p.get("failing_since")
    if p.get("disabled"):
        add("critical", f"partner {p['id']} disabled{': ' + p['disabled_reason'] if p.get('disabled_reason') else ''}")
    if p["circuit"] == "open":
        add("critical", f"partner {p['id']} circuit open, failing since "
                        f"{utc_clock(since or p.get('last_failure_at') or now)}{_why(p)}")
    elif p["consecutive_failures"] > 0 and since and now - since > FAILING_CRITICAL_AFTER:
        add("critical", f"partner {p['id']} failing since {utc_clock(since)}{_why(p)}")
    if out:  # a partner in trouble: its warnings would only repeat it
        return out
    if p["consecutive_failures"] > 0:
        add("warning", f"partner {p['id']} retrying after {p['consecutive_failures']} failure(s){_why(p)}")
    if p["paused"]:
        add("warning", f"partner {p['id']} paused")
    oldest = p.get("oldest_waiting_seconds")
    if oldest is not None and oldest > OLDEST_WARNING_AFTER:
        add("warning", f"partner {p['id']} oldest delivery waiting {human_age(oldest)}")
    return out


def problems(st: dict) -> list[dict[str, str]]:
    """What is wrong, critical first: [{"severity": "critical"|"warning", "what", "text"}]."""
    now, out = st["at"], []
    for p in st["partners"]:
        out += _partner_problems(p, now)
    for q, names in st["workers"]["queues"].items():
        missing = f" (missing: {', '.join(names['missing'])})" if names["missing"] else ""
        if not names["online"]:
            out.append({"severity": "critical", "what": f"queue:{q}",
                        "text": f"no worker online on queue {q}{missing}"})
        elif names["missing"]:
            out.append({"severity": "warning", "what": f"queue:{q}",
                        "text": f"worker missing on queue {q}: {', '.join(names['missing'])}"})
    sw = st["sweeper"]
    if sw["last_run"] is None:
        out.append({"severity": "critical", "what": "sweeper", "text": "sweeper has never run"})
    elif sw["age"] > SWEEPER_CRITICAL_AFTER:
        out.append({"severity": "critical", "what": "sweeper",
                    "text": f"sweeper last ran {human_age(sw['age'])} ago ({utc_clock(sw['last_run'])})"})
    if st["dead_letters"]:
        out.append({"severity": "warning", "what": "dead_letters", "text": f"{st['dead_letters']} dead letter(s)"})
    if st["dead_events"]:
        out.append({"severity": "warning", "what": "dead_events", "text": f"{st['dead_events']} dead event(s)"})
    mem = st["redis"]
    if mem["maxmemory"] and mem["used_memory"] > MEMORY_WARNING_RATIO * mem["maxmemory"]:
        out.append({"severity": "warning", "what": "redis:memory",
                    "text": f"Redis memory {mem['used_memory'] / mem['maxmemory']:.0%} of maxmemory"})
    if mem["warning"]:
        out.append({"severity": "warning", "what": "redis:policy", "text": mem["warning"]})
    return sorted(out, key=lambda x: x["severity"] != "critical")
