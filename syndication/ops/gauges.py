"""The live gauges of `/metrics`: what is true right now, read from the status snapshot at each scrape.

Counters live in Redis (infra/metrics.py); these are states: how old the
oldest waiting delivery of each partner is, its circuit, its failures, which
queues have a worker, when the sweeper last ran, Redis memory. Every series
is there from the first scrape (a partner that never succeeded has a last
success of 0, an empty queue an age of 0) so alert rules need no `absent()`.

Circuit state is one series per state (`state="open"` is 1 or 0), the
Prometheus way to expose an enum: `syndication_partner_circuit_state{state="open"} == 1`
reads better in a rule than a magic number.

Times are Unix timestamps in seconds (`*_timestamp_seconds`), so a rule
computes the age with `time() - ...` and the value survives a missed scrape.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

import redis
from prometheus_client.core import GaugeMetricFamily

from syndication.infra.context import Context
from syndication.ops import heartbeats, status, websub_status

CIRCUIT_STATES = ("closed", "half_open", "open")
PARTNER_LABELS = ["partner"]


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"syndication_{name}", doc, labels=labels)


def partner_families(partners: list[dict[str, Any]]) -> Iterable[GaugeMetricFamily]:
    circuit = _gauge("partner_circuit_state", "Circuit of each partner: 1 for its current state, 0 for the others",
                     ["partner", "state"])
    per_partner = {
        "oldest_waiting_seconds": ("Age of the partner's oldest waiting delivery, in flight included (0: none)",
                                   lambda p: p.get("oldest_waiting_seconds") or 0.0),
        "consecutive_failures": ("Failed attempts in a row (0 after a success)",
                                 lambda p: p.get("consecutive_failures") or 0),
        "failing_since_timestamp_seconds": ("When the current run of failures began (0: not failing)",
                                            lambda p: p.get("failing_since") or 0.0),
        "last_success_timestamp_seconds": ("When a delivery to the partner last succeeded (0: never)",
                                           lambda p: p.get("last_success_at") or 0.0),
        "waiting": ("Deliveries waiting: due, scheduled for a retry, or in flight",
                    lambda p: p.get("waiting") or 0),
        "in_flight": ("Deliveries claimed by a push batch, not yet answered", lambda p: p.get("in_flight") or 0),
        "retrying": ("Waiting deliveries that failed at least once",
                     lambda p: p.get("retrying", p.get("scheduled_retries")) or 0),
        "parked": ("Deliveries parked while the partner is disabled (410 Gone)", lambda p: p.get("parked") or 0),
        "enabled": ("1 if deliveries to the partner may go out (enabled in the file, not disabled by a 410)",
                    lambda p: int(bool(p.get("enabled", True)))),
        "paused": ("1 if ops paused the partner", lambda p: int(bool(p.get("paused")))),
    }
    families = {name: _gauge(f"partner_{name}", doc, PARTNER_LABELS) for name, (doc, _) in per_partner.items()}
    for p in partners:
        state = p.get("circuit") or "closed"
        for s in CIRCUIT_STATES:
            circuit.add_metric([p["id"], s], 1 if state == s else 0)
        for name, (_, read) in per_partner.items():
            families[name].add_metric([p["id"]], float(read(p)))
    yield circuit
    yield from families.values()


def websub_families(hub: dict[str, Any]) -> Iterable[GaugeMetricFamily]:
    """Our hub's subscriptions by state (and per topic: feeds x formats, bounded by the feeds file) and its
    subscribers' health in aggregate. Never a subscriber's id or callback as a label: there may be thousands."""
    total = _gauge("websub_subscriptions", "Subscriptions of our WebSub hub by state (active: verified, lease "
                                           "running; unverified: waiting for the verification of intent)", ["state"])
    per_topic = _gauge("websub_topic_subscriptions", "Subscriptions of our WebSub hub per topic (feed, format) "
                                                     "and state", ["feed", "format", "state"])
    for state in websub_status.STATES:
        total.add_metric([state], hub["totals"][state])
        for t in hub["topics"]:
            per_topic.add_metric([t["feed"], t["format"], state], t[state])
    yield total
    yield per_topic
    health = hub["subscribers"]
    for name, doc, value in (
            ("websub_subscribers_circuit_open", "Subscribers of our hub with work whose circuit is open",
             health["circuits_open"]),
            ("websub_subscribers_waiting", "Subscribers of our hub with deliveries waiting", health["waiting_subscribers"]),
            ("websub_deliveries_waiting", "Deliveries (verifications, content) waiting for our hub's subscribers",
             health["deliveries_waiting"]),
            ("websub_oldest_waiting_seconds", "Age of the oldest delivery waiting for a subscriber of our hub (0: none)",
             health["oldest_waiting_seconds"] or 0.0)):
        yield GaugeMetricFamily(f"syndication_{name}", doc, value=value)
    ended = _gauge("websub_ended_subscriptions", "Ended subscriptions still kept for ops, by why they ended",
                   ["reason"])
    for reason, n in hub["ended"].items():
        ended.add_metric([reason], n)
    yield ended


def _workers_by_queue(ctx: Context, live: dict) -> dict[str, dict[str, list[str]]]:
    known = live.get("workers")
    if isinstance(known, dict) and "queues" in known:
        return known["queues"]
    return heartbeats.by_queue(heartbeats.roster(ctx))


def _sweeper_last_run(ctx: Context, live: dict) -> float:
    known = live.get("sweeper")
    if isinstance(known, dict):
        return known.get("last_run") or 0.0
    raw = ctx.redis.get(ctx.keys.sweeper_last_run)
    return float(raw) if raw else 0.0


def _redis_memory(ctx: Context, live: dict) -> dict | None:
    known = live.get("redis")
    if isinstance(known, dict) and "used_memory" in known:
        return known
    try:
        return ctx.redis.info("memory")
    except redis.ResponseError:  # INFO renamed away (some managed Redis): no memory gauges, not a failed scrape
        return None


def families(ctx: Context, live: dict) -> Iterable[GaugeMetricFamily]:
    """Every live gauge, from `live` (a status.status snapshot) and what it does not carry yet."""
    q = _gauge("queue_depth", "Messages waiting per Celery queue", ["queue"])
    for name, depth in live["queues"].items():
        q.add_metric([name], depth)
    yield q
    yield GaugeMetricFamily("syndication_unacked_messages", "Messages taken by workers, not yet acked",
                            value=live["unacked"])
    yield GaugeMetricFamily("syndication_events_pending", "Events accepted, not yet applied",
                            value=live.get("events_pending") or 0)
    yield from partner_families(live["partners"])
    yield from websub_families(live.get("websub") or websub_status.summary(ctx))
    online = _gauge("workers_online", "Worker processes with a fresh heartbeat, per queue they consume", ["queue"])
    missing = _gauge("workers_missing", "Worker processes whose heartbeat stopped, per queue", ["queue"])
    for queue, names in _workers_by_queue(ctx, live).items():
        online.add_metric([queue], len(names.get("online", ())))
        missing.add_metric([queue], len(names.get("missing", ())))
    yield online
    yield missing
    yield GaugeMetricFamily("syndication_sweeper_last_run_timestamp_seconds",
                            "When the sweeper (retries, re-drives) last ran (0: never)",
                            value=_sweeper_last_run(ctx, live))
    yield GaugeMetricFamily("syndication_dead_letters_waiting", "Dead letters not yet replayed or discarded",
                            value=live["dead_letters"])
    yield GaugeMetricFamily("syndication_dead_events", "Events parked after failing to apply, not yet replayed",
                            value=live.get("dead_events") or 0)
    memory = _redis_memory(ctx, live)
    if memory is not None:
        yield GaugeMetricFamily("syndication_redis_used_memory_bytes", "Memory Redis uses",
                                value=int(memory.get("used_memory") or 0))
        yield GaugeMetricFamily("syndication_redis_maxmemory_bytes", "Redis maxmemory (0: no limit)",
                                value=int(memory.get("maxmemory") or 0))
    yield GaugeMetricFamily("syndication_scrape_timestamp_seconds", "When these values were read",
                            value=live.get("at") or time.time())


class LiveGauges:
    """prometheus_client collector: one status snapshot per scrape, turned into gauges."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def collect(self) -> Iterable[GaugeMetricFamily]:
        yield from families(self.ctx, status.status(self.ctx))
