"""What Redis keeps per delivery for the retention period, measured with MEMORY USAGE on the run's own keys.

A finished delivery keeps, until `delivery_retention` after it finished (delivery/retention.py):
its record `delivery:{id}` (hash), its attempts `delivery:{id}:attempts` (list, one JSON per
attempt), an entry in its partner's listing `partner:{p}:history` (zset, trimmed by the sweeper)
and one in its article's `article:{a}:deliveries` (set). `record_bytes` samples those keys of
deliveries the run made (MEMORY USAGE ... SAMPLES 0: every element counted), and reads the TTL the
record was given, so the figure is what the retention multiplies.
"""

from __future__ import annotations

import statistics


def _mean(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else float("nan")


def record_bytes(ctx, partner_id: str, sample: int = 200) -> dict:
    r, k = ctx.redis, ctx.keys
    ids = [x.decode() for x in r.zrange(k.partner_history(partner_id), 0, sample - 1)]
    pipe = r.pipeline(transaction=False)
    for did in ids:
        pipe.memory_usage(k.delivery(did), samples=0)
        pipe.memory_usage(k.delivery_attempts(did), samples=0)
        pipe.hget(k.delivery(did), "article_id")
        pipe.ttl(k.delivery(did))
        pipe.llen(k.delivery_attempts(did))
    vals = pipe.execute()
    record, attempts, articles, ttls, n_attempts = (vals[i::5] for i in range(5))
    history = r.memory_usage(k.partner_history(partner_id), samples=0) or 0
    history_n = r.zcard(k.partner_history(partner_id)) or 1
    pipe = r.pipeline(transaction=False)
    for a in {x.decode() for x in articles if x}:
        pipe.memory_usage(k.article_deliveries(a), samples=0)
        pipe.scard(k.article_deliveries(a))
    sets = pipe.execute()
    per_set_entry = [m / n for m, n in zip(sets[0::2], sets[1::2]) if m and n]
    out = {"sampled": len(ids), "record": _mean([x for x in record if x]),
           "attempts": _mean([x for x in attempts if x]),
           "attempts_per_delivery": _mean([x for x in n_attempts]),
           "history_entry": history / history_n, "history_entries": history_n,
           "article_set_entry": _mean(per_set_entry),
           "ttl_s": _mean([t for t in ttls if t and t > 0])}
    out["total"] = out["record"] + out["attempts"] + out["history_entry"] + out["article_set_entry"]
    out["per_event"] = event_bytes(ctx, sorted({x.decode() for x in articles if x}))
    return out


def event_bytes(ctx, article_ids: list[str]) -> dict:
    """Per accepted event: the event (kept 7 days, the idempotency window), the article (kept while
    it is current) and its change log entry (kept `changelog_retention`)."""
    r, k = ctx.redis, ctx.keys
    pipe = r.pipeline(transaction=False)
    for a in article_ids:
        pipe.memory_usage(k.event(f"evt-{a}-v1"), samples=0)
        pipe.memory_usage(k.article(a), samples=0)
    vals = pipe.execute()
    log_bytes = r.memory_usage(k.changelog, samples=0) or 0
    log_n = r.xlen(k.changelog) or 1
    out = {"sampled": len(article_ids), "event": _mean([x for x in vals[0::2] if x]),
           "article": _mean([x for x in vals[1::2] if x]), "changelog_entry": log_bytes / log_n}
    out["total"] = out["event"] + out["article"] + out["changelog_entry"]
    return out
