"""Prometheus metrics, correct across processes and hosts.

Workers cannot be scraped, and there may be many of them, so what they count
goes to Redis: one hash per metric (`metrics:{name}`), one field per label
set, incremented atomically (HINCRBY/HINCRBYFLOAT), usually inside a
pipeline the caller already runs. Hot paths (a push batch records dozens of
deliveries a second) add up in a `Tally` in process and write the sums in
the pipeline that records their outcomes: one HINCRBYFLOAT per series and
bucket per group, not a dozen per observation. The API's `/metrics` reads those hashes
on each scrape and adds live gauges (queue depths, circuit states, dead
letters, scheduled retries). What only the API sees (feed requests) is
counted in the API process, as usual for a scraped process.

All names start with `syndication_`.
"""

from __future__ import annotations

import time
from typing import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from syndication.infra.keys import Keys

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RENDER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

COUNTERS = {
    "events_accepted": ("Events accepted by type", ("type",)),
    "events_rejected": ("Events rejected by reason", ("reason",)),
    "events_applied": ("Events applied by outcome (applied, replay, stale)", ("outcome",)),
    "deliveries": ("Delivery attempts by partner and outcome", ("partner", "outcome")),
    "retries_scheduled": ("Retries scheduled by partner", ("partner",)),
    "dead_letters": ("Deliveries that became dead letters, by partner", ("partner",)),
    "feed_renders": ("Feed renders by feed", ("feed",)),
    "feed_items_skipped": ("Feed items left out of a render because they cannot be rendered", ("feed",)),
    "events_failed": ("Attempts to apply an event that raised (retried, then parked as dead)", ("outcome",)),
    "sweeps": ("Sweeper runs: ran, or skipped because another beat's sweep held the lock", ("outcome",)),
}
HISTOGRAMS = {
    "delivery_latency_seconds": ("Delivery request latency by partner", ("partner",), LATENCY_BUCKETS),
    "feed_render_seconds": ("Feed render duration by feed", ("feed",), RENDER_BUCKETS),
}
CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}


def _field(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def series(**labels: str) -> str:
    """The hash field of one label set (for a Lua script that counts as it writes)."""
    return _field(labels)


def _labels(field: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in field.split(",")) if field else {}


def inc(pipe, keys: Keys, name: str, amount: float = 1, **labels: str) -> None:
    """Queue a counter increment on `pipe` (a Redis pipeline or client)."""
    pipe.hincrbyfloat(keys.metric(name), _field(labels), amount)


def observe(pipe, keys: Keys, name: str, value: float, **labels: str) -> None:
    """Queue a histogram observation on `pipe`."""
    buckets = HISTOGRAMS[name][2]
    key = keys.metric(name)
    base = _field(labels)
    for le in buckets:
        if value <= le:
            pipe.hincrby(key, f"{base}|{le}", 1)
    pipe.hincrby(key, f"{base}|+Inf", 1)
    pipe.hincrbyfloat(key, f"{base}|sum", value)


class Tally:
    """Counters and histogram observations summed in process; `flush` queues the sums on a pipeline."""

    def __init__(self) -> None:
        self._sums: dict[tuple[str, str], float] = {}

    def _add(self, name: str, field: str, amount: float) -> None:
        self._sums[(name, field)] = self._sums.get((name, field), 0.0) + amount

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        self._add(name, _field(labels), amount)

    def observe(self, name: str, value: float, **labels: str) -> None:
        base = _field(labels)
        for le in HISTOGRAMS[name][2]:
            if value <= le:
                self._add(name, f"{base}|{le}", 1)
        self._add(name, f"{base}|+Inf", 1)
        self._add(name, f"{base}|sum", value)

    def flush(self, pipe, keys: Keys) -> None:
        for (name, field), amount in self._sums.items():
            pipe.hincrbyfloat(keys.metric(name), field, amount)
        self._sums.clear()


class RedisCollector:
    """prometheus_client collector: Redis-backed counters/histograms plus live gauges."""

    def __init__(self, ctx, gauges=None):
        self.ctx = ctx
        self.gauges = gauges  # callable(ctx) -> dict of live values (from ops.status)

    def collect(self) -> Iterable:
        r, keys = self.ctx.redis, self.ctx.keys
        pipe = r.pipeline(transaction=False)
        for name in (*COUNTERS, *HISTOGRAMS):
            pipe.hgetall(keys.metric(name))
        values = dict(zip((*COUNTERS, *HISTOGRAMS), pipe.execute()))
        for name, (doc, labelnames) in COUNTERS.items():
            fam = CounterMetricFamily(f"syndication_{name}", doc, labels=labelnames)
            for field, v in values[name].items():
                lab = _labels(field.decode())
                fam.add_metric([lab.get(n, "") for n in labelnames], float(v))
            yield fam
        for name, (doc, labelnames, buckets) in HISTOGRAMS.items():
            fam = HistogramMetricFamily(f"syndication_{name}", doc, labels=labelnames)
            series: dict[str, dict[str, float]] = {}
            for field, v in values[name].items():
                base, _, part = field.decode().rpartition("|")
                series.setdefault(base, {})[part] = float(v)
            for base, parts in series.items():
                lab = _labels(base)
                bucket_list = [(str(le), parts.get(str(le), 0.0)) for le in buckets]
                bucket_list.append(("+Inf", parts.get("+Inf", 0.0)))
                fam.add_metric([lab.get(n, "") for n in labelnames], bucket_list, parts.get("sum", 0.0))
            yield fam
        if self.gauges:
            yield from self._gauges(self.gauges(self.ctx))

    @staticmethod
    def _gauges(live: dict) -> Iterable:
        q = GaugeMetricFamily("syndication_queue_depth", "Messages waiting per Celery queue", labels=["queue"])
        for name, depth in live["queues"].items():
            q.add_metric([name], depth)
        yield q
        yield GaugeMetricFamily("syndication_unacked_messages", "Messages taken by workers, not yet acked",
                                value=live["unacked"])
        c = GaugeMetricFamily("syndication_circuit_state", "Circuit per partner: 0 closed, 1 half-open, 2 open",
                              labels=["partner"])
        w = GaugeMetricFamily("syndication_deliveries_waiting", "Deliveries waiting per partner", labels=["partner"])
        s = GaugeMetricFamily("syndication_retries_waiting", "Scheduled retries per partner", labels=["partner"])
        for p in live["partners"]:
            c.add_metric([p["id"]], CIRCUIT_VALUES.get(p["circuit"], 0))
            w.add_metric([p["id"]], p["waiting"])
            s.add_metric([p["id"]], p["scheduled_retries"])
        yield c
        yield w
        yield s
        yield GaugeMetricFamily("syndication_dead_letters_waiting", "Dead letters not yet replayed",
                                value=live["dead_letters"])
        yield GaugeMetricFamily("syndication_scrape_timestamp", "When these values were read", value=time.time())
