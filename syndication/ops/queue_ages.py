"""The queue-age chart's last hour: each partner's oldest waiting delivery, sampled every SAMPLE_EVERY s.

    queue_ages.sample(ctx, now)             # housekeeping, after a sweep this process ran
    hour = queue_ages.last_hour(ctx, now)   # {partner: {"ages": [60 per minute], "waiting": [...]}}

The one owner of `ops:queue_ages` (infra/keys.py): a sorted set of samples, each JSON {"at",
"partners": {id: [oldest waiting s, waiting]}} scored by its time, partners with nothing
waiting left out; samples older than KEPT go as new ones come. A sample is what `status` reads
of a partner's queue (status.partner_status: the first status.SAMPLE due and in-flight ids,
their oldest `created_at`), measured for every partner in two round trips. One process samples
at a time: housekeeping asks only after a sweep it ran (the sweep lock), and a sample taken
less than SAMPLE_EVERY ago by any process is not repeated.

Per minute (`per_minute`, pure): the oldest age sampled in that minute (the worst the minute
saw), 0 where a minute has samples but the partner had nothing waiting, None where a minute has
no sample (no worker was sweeping: unknown, not empty).
"""

from __future__ import annotations

import json
from typing import Any

from syndication.delivery.schedule import DueSchedule
from syndication.ops.sparklines import MINUTES, STEP
from syndication.ops.status import SAMPLE

SAMPLE_EVERY = 10.0  # seconds between samples: six a minute
KEPT = MINUTES * STEP + 2 * STEP  # seconds of samples kept: the hour drawn and a little more


def measure(ctx, partner_ids: list[str], now: float) -> dict[str, tuple[float, int]]:
    """Each partner with deliveries waiting (due, retrying or in flight): (age of the oldest, how many)."""
    pipe = ctx.redis.pipeline(transaction=False)
    for pid in partner_ids:
        DueSchedule(ctx, pid).queue_counts(pipe, now, SAMPLE)
    counts = pipe.execute()
    waiting, ids = {}, {}
    for i, pid in enumerate(partner_ids):
        ready, later, inflight, first, flying = counts[i * 5:i * 5 + 5]
        if ready + later + inflight:
            waiting[pid] = ready + later + inflight
            ids[pid] = list(dict.fromkeys([*first, *flying]))
    pipe = ctx.redis.pipeline(transaction=False)
    for pid in waiting:
        for did in ids[pid]:
            pipe.hget(ctx.keys.delivery(did.decode()), "created_at")
    created = iter(pipe.execute())
    found = {}
    for pid, n in waiting.items():
        times = [float(c) for c in (next(created) for _ in ids[pid]) if c]
        found[pid] = (round(max(0.0, now - min(times)), 3) if times else 0.0, n)
    return found


def sample(ctx, now: float) -> bool:
    """Take a sample unless one was taken less than SAMPLE_EVERY ago; True if it took one."""
    key = ctx.keys.queue_ages
    newest = ctx.redis.zrevrange(key, 0, 0, withscores=True)
    if newest and now - newest[0][1] < SAMPLE_EVERY:
        return False
    found = measure(ctx, [t.id for t in ctx.settings.targets], now)
    entry = json.dumps({"at": now, "partners": {pid: list(v) for pid, v in found.items()}}, separators=(",", ":"))
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.zadd(key, {entry: now})
    pipe.zremrangebyscore(key, "-inf", f"({now - KEPT}")
    pipe.execute()
    return True


def samples(ctx, now: float) -> list[dict[str, Any]]:
    """The samples of the last hour, oldest first."""
    raw = ctx.redis.zrangebyscore(ctx.keys.queue_ages, now - MINUTES * STEP, "+inf")
    return [json.loads(r) for r in raw]


def per_minute(taken: list[dict[str, Any]], now: float, partner: str) -> dict[str, Any]:
    """One partner's hour from the samples: the oldest age and the most waiting per minute, oldest
    first, the last point the minute ending at `now` (as sparklines.per_minute)."""
    start = now - MINUTES * STEP
    ages: list[float | None] = [None] * MINUTES
    waiting: list[int | None] = [None] * MINUTES
    for s in taken:
        if not start < s["at"] <= now:
            continue
        i = min(MINUTES - 1, int((s["at"] - start) // STEP))
        age, n = s["partners"].get(partner, (0.0, 0))
        ages[i] = max(ages[i] or 0.0, age)
        waiting[i] = max(waiting[i] or 0, n)
    return {"start": start, "end": now, "step": STEP, "ages": ages, "waiting": waiting,
            "worst": max((a for a in ages if a is not None), default=0.0)}


def last_hour(ctx, now: float, partners: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """`per_minute` of each partner that had something waiting in the hour (or of `partners`, given)."""
    taken = samples(ctx, now)
    ids = partners if partners is not None else sorted({p for s in taken for p in s["partners"]})
    return {pid: per_minute(taken, now, pid) for pid in ids}


def chart_rows(waiting_now: list[dict[str, Any]], hours: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """What the queue-age chart draws, one row per partner with something waiting now or in the hour,
    the longest wait first: now (sparklines.queue_ages rows: id, age, waiting) beside its hour."""
    now = {r["id"]: r for r in waiting_now}
    empty = {"ages": [None] * MINUTES, "waiting": [None] * MINUTES, "worst": 0.0}
    rows = []
    for pid in sorted(set(now) | {p for p, h in hours.items() if h["worst"] or any(h["waiting"])}):
        hour = hours.get(pid, empty)
        current = now.get(pid, {"age": 0.0, "waiting": 0})
        rows.append({"id": pid, "age": current["age"], "waiting": current["waiting"], "ages": hour["ages"],
                     "worst": max(hour["worst"], current["age"])})
    return sorted(rows, key=lambda r: (-r["worst"], r["id"]))
