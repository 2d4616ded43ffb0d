"""Prometheus metrics, correct across processes and hosts.

Workers cannot be scraped, and there may be many of them, so what they count
goes to Redis: one hash per metric (`metrics:{name}`), one field per label
set, incremented atomically (HINCRBY/HINCRBYFLOAT), usually inside a
pipeline the caller already runs. Hot paths (a push batch records dozens of
deliveries a second) add up in a `Tally` in process and write the sums in
the pipeline that records their outcomes: one HINCRBYFLOAT per series and
bucket per group, not a dozen per observation. The API's `/metrics` reads those hashes
on each scrape; the live gauges (queue depths, partner health, workers...) are
ops/gauges.py. What only the API sees (feed requests) is counted in the API
process, as usual for a scraped process.

Every series a configuration can have is in the first scrape, at 0 until
something happens: `increase()` and alert rules need a series to exist before
its first increment, or the first dead letter of a partner is invisible to
`increase(...[15m]) > 0`. Which series those are is domain knowledge (event
types, partners, feeds): ops/series.py knows them, and the API hands that
function to the collector, so this module imports nothing above infra.

All names start with `syndication_`.
"""

from __future__ import annotations

from typing import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from syndication.infra.keys import Keys

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RENDER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

COUNTERS = {
    "events_accepted": ("Events accepted by type", ("type",)),
    "events_rejected": ("Events rejected by reason", ("reason",)),
    "events_applied": ("Events applied by outcome (applied, replay, stale)", ("outcome",)),
    "delivery_attempts": ("Delivery attempts by partner and outcome (delivered, retry, dead, parked)",
                          ("partner", "outcome")),
    "retries_scheduled": ("Retries scheduled by partner", ("partner",)),
    "partner_throttled": ("Claims held back by the partner's rate limit (its deliveries stay due)", ("partner",)),
    "dead_letters": ("Deliveries that became dead letters, by partner", ("partner",)),
    "feed_renders": ("Feed renders by feed", ("feed",)),
    "feed_items_skipped": ("Feed items left out of a render because they cannot be rendered", ("feed",)),
    "events_failed": ("Attempts to apply an event that raised (retried, then parked as dead)", ("outcome",)),
    "sweeps": ("Sweeper runs: ran, or skipped because another beat's sweep held the lock", ("outcome",)),
    "sitemap_builds": ("News sitemap sets built because something they list changed, by sitemap (news, "
                       "news/{feed})", ("sitemap",)),
    "websub_requests": ("Subscribe and unsubscribe requests to our WebSub hub by mode (subscribe, unsubscribe, "
                        "invalid) and result (accepted, throttled, full, refused)", ("mode", "result")),
    "websub_verifications": ("Verifications of intent of our WebSub hub by outcome (subscribed, unsubscribed, "
                             "denied)", ("outcome",)),
    "websub_distributions": ("Feed changes our WebSub hub distributed, per topic (feed, format)", ("feed", "format")),
    "websub_content_deliveries": ("Content deliveries our WebSub hub created for its subscribers, per topic",
                                  ("feed", "format")),
}
HISTOGRAMS = {
    "delivery_latency_seconds": ("Delivery request latency by partner", ("partner",), LATENCY_BUCKETS),
    "feed_render_seconds": ("Feed render duration by feed", ("feed",), RENDER_BUCKETS),
}
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

    def merge(self, other: "Tally") -> None:
        """Add `other`'s sums to this tally (several groups written in one transaction: recorder.py)."""
        for (name, field), amount in other._sums.items():
            self._add(name, field, amount)
        other._sums.clear()


class RedisCollector:
    """prometheus_client collector of the counters and histograms every process writes to Redis.

    `known(settings)`: metric -> the label sets shown at 0 before their first increment; asked
    again when a reload publishes new settings (a partner added by a reload is in the next scrape)."""

    def __init__(self, ctx, known: Callable[[object], dict[str, list[dict[str, str]]]]):
        self.ctx = ctx
        self._known_of = known
        self._known: tuple[int, dict] | None = None

    @property
    def known(self) -> dict[str, list[dict[str, str]]]:
        settings = self.ctx.settings
        if self._known is None or self._known[0] != settings.version:
            self._known = (settings.version, self._known_of(settings))
        return self._known[1]

    def collect(self) -> Iterable:
        r, keys = self.ctx.redis, self.ctx.keys
        pipe = r.pipeline(transaction=False)
        for name in (*COUNTERS, *HISTOGRAMS):
            pipe.hgetall(keys.metric(name))
        values = dict(zip((*COUNTERS, *HISTOGRAMS), pipe.execute()))
        for name, (doc, labelnames) in COUNTERS.items():
            fam = CounterMetricFamily(f"syndication_{name}", doc, labels=labelnames)
            # Keyed by label values, not by field: two writers naming labels in another order
            # must still make one series (a duplicate would make the whole scrape invalid).
            found = {self._key(labels, labelnames): 0.0 for labels in self.known.get(name, ())}
            for field, v in values[name].items():
                key = self._key(_labels(field.decode()), labelnames)
                found[key] = found.get(key, 0.0) + float(v)
            for key, v in found.items():
                fam.add_metric(list(key), v)
            yield fam
        for name, (doc, labelnames, buckets) in HISTOGRAMS.items():
            fam = HistogramMetricFamily(f"syndication_{name}", doc, labels=labelnames)
            series: dict[tuple, dict[str, float]] = {self._key(labels, labelnames): {}
                                                     for labels in self.known.get(name, ())}
            for field, v in values[name].items():
                base, _, part = field.decode().rpartition("|")
                parts = series.setdefault(self._key(_labels(base), labelnames), {})
                parts[part] = parts.get(part, 0.0) + float(v)
            for key, parts in series.items():
                bucket_list = [(str(le), parts.get(str(le), 0.0)) for le in buckets]
                bucket_list.append(("+Inf", parts.get("+Inf", 0.0)))
                fam.add_metric(list(key), bucket_list, parts.get("sum", 0.0))
            yield fam

    @staticmethod
    def _key(labels: dict[str, str], labelnames) -> tuple[str, ...]:
        return tuple(labels.get(n, "") for n in labelnames)
