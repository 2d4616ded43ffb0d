"""Work taken and not finished, read from Redis in one round trip (while its holder is frozen)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

from syndication.feeds.index import RENDER_LOCK_TTL
from syndication.infra.context import Context
from tests.faults.harness.config import FEEDS, PARTNERS


@dataclass
class InFlight:
    """Work some process had taken and not finished, read from Redis while that process is frozen."""

    at: float
    deliveries: dict[str, dict[str, float]]  # partner -> delivery id under lease (claimed, not recorded) -> lease end
    slots: dict[str, int]  # partner -> push slots held: pushes running, each with at most one request on the wire
    pending: dict[str, float]  # accepted events not applied yet -> due at (in the future: claimed by a batch)
    tasks: list[tuple[str, list, float]]  # Celery messages a worker had taken: (task, args, taken at)
    lock_ttl: dict[str, float]  # feed -> seconds its render lock has left (feeds with a lock)

    def taken(self, task: str) -> list[tuple[list, float]]:
        return [(args, at) for name, args, at in self.tasks if name == f"syndication.{task}"]

    @property
    def lost_applies(self) -> set[str]:
        """Events an apply batch had claimed and not applied, while a worker held a batch task."""
        if not self.taken("apply_events"):
            return set()
        return {e for e, due in self.pending.items() if due > self.at}

    @property
    def lost_renders(self) -> dict[str, float]:
        """Feeds whose render a worker had taken and still held the lock for: feed -> lock expiry."""
        out = {}
        for args, taken_at in self.taken("render_feed"):
            name = args[0]
            # The lock is this task's only if it was taken before the task was (the lock admits
            # the task into the queue): a render that already finished may hold a fresh lock
            # for its follow-up render. Locks are taken with a TTL of RENDER_LOCK_TTL.
            if name in self.lock_ttl and self.at - (RENDER_LOCK_TTL - self.lock_ttl[name]) <= taken_at + 0.001:
                out[name] = self.at + self.lock_ttl[name]
        return out

    def describe(self, *what: str) -> str:
        parts = {
            "deliveries": lambda: (f"{sum(map(len, self.deliveries.values()))} deliveries leased, "
                                   f"{sum(self.slots.values())} pushes running"),
            "applies": lambda: f"{len(self.lost_applies)} applies taken ({len(self.pending)} events pending)",
            "renders": lambda: f"{len(self.lost_renders)} renders running ({', '.join(sorted(self.lost_renders))})",
        }
        return "; ".join(parts[w]() for w in what)


def read(ctx: Context) -> InFlight:
    """Everything taken and unfinished, in one round trip."""
    r, k = ctx.redis, ctx.keys
    pipe = r.pipeline(transaction=False)
    for pid in PARTNERS:
        pipe.zrange(k.partner_inflight(pid), 0, -1, withscores=True)
        pipe.zrange(k.partner_slots(pid), 0, -1, withscores=True)
    pipe.zrange(k.events_pending, 0, -1, withscores=True)
    pipe.hgetall(k.celery_unacked)
    pipe.zrange(f"{k.celery_unacked}_index", 0, -1, withscores=True)
    for name in FEEDS:
        pipe.pttl(k.feed_render_lock(name))
    res = pipe.execute()
    now = time.time()
    deliveries, slots = {}, {}
    for i, pid in enumerate(PARTNERS):
        deliveries[pid] = {x.decode(): until for x, until in res[2 * i]}
        slots[pid] = sum(1 for _, until in res[2 * i + 1] if until > now)  # expired slots hold nothing
    j = 2 * len(PARTNERS)
    pending = {x.decode(): due for x, due in res[j]}
    taken_at = {tag.decode(): at for tag, at in res[j + 2]}
    tasks = []
    for tag, raw in res[j + 1].items():
        payload = json.loads(raw)[0]
        body = json.loads(base64.b64decode(payload["body"]))
        tasks.append((payload["headers"]["task"], body[0], taken_at.get(tag.decode(), 0.0)))
    ttl = {name: pttl / 1000 for name, pttl in zip(FEEDS, res[j + 3:]) if pttl > 0}
    return InFlight(now, deliveries, slots, pending, tasks, ttl)
