"""What /ops shows, read from the core in one pass: a plain dict the HTML of ops_html.py is made from.

    view = View(article="a1", delivery="msg_...")     # what the person asked for (query string)
    data = gather(ctx, view)

Both the first page load and every refresh (`/ops/state.json`, every 5 s) go
through `gather`, so the page and its refresh can never disagree. What is wrong
is status.problems' judgement, the same one `syndication status --check` prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from syndication.delivery import deadletters, notices, records
from syndication.ops import audit, queue_ages, sparklines, status
from syndication.pipeline import dead_events

INCIDENT_DAYS = notices.INCIDENT_DAYS
FAILURE_HOURS = 24
# Replay makes sense for work that did not (yet) arrive; a delivered, superseded or cancelled
# delivery is finished, and sending it again would rewrite what the partner already has.
REPLAYABLE = set(deadletters.REPLAYABLE)
DISCARDABLE = {"dead"}  # parked deliveries come back with Enable
UNFINISHED_FAILURES = {"dead", "parked", "retrying"}
DEAD_LETTERS_SHOWN = 50
DEAD_LETTERS_COUNTED = 5000  # per-partner dead letter counts read at most this many (newest)


@dataclass(frozen=True)
class View:
    article: str | None = None
    delivery: str | None = None
    note: str | None = None


def in_banner(problem: dict) -> bool:
    """The red banner: everything critical, and missing workers (a queue short of hands)."""
    return problem["severity"] == "critical" or problem["what"].startswith("queue:")


def incidents(ctx, now: float) -> list[dict[str, Any]]:
    """Circuit openings of the last INCIDENT_DAYS days, newest first."""
    found = notices.incidents(ctx, since=now - INCIDENT_DAYS * 86400)
    return sorted(found, key=lambda i: -(i.get("started_at") or 0))


def _dead_letter_counts(ctx) -> dict[str, int]:
    ids = ctx.redis.zrevrange(ctx.keys.deadletters, 0, DEAD_LETTERS_COUNTED - 1)
    pipe = ctx.redis.pipeline(transaction=False)
    for did in ids:
        pipe.hget(ctx.keys.delivery(did.decode()), "partner")
    counts: dict[str, int] = {}
    for partner in pipe.execute():
        if partner:
            counts[partner.decode()] = counts.get(partner.decode(), 0) + 1
    return counts


def recent_failures(ctx, now: float, limit: int = 25) -> list[dict[str, Any]]:
    """Deliveries of the last FAILURE_HOURS that failed at least once, recovered ones included:
    a delivery that got through on its fourth attempt still tells the story of the outage."""
    since = now - FAILURE_HOURS * 3600
    found = []
    for p in ctx.settings.targets:
        found += [r for r in records.for_partner(ctx, p.id, since=since, limit=100)
                  if r["status"] in UNFINISHED_FAILURES or r.get("attempts", 0) > 1]
    found.sort(key=lambda r: -r.get("updated_at", 0))
    return found[:limit]


def last_hour(ctx, now: float) -> dict[str, dict[str, Any]]:
    """Each push partner's last hour, minute by minute (ops/sparklines.py), from its kept attempts."""
    pipe = ctx.redis.pipeline(transaction=False)
    ids = [p.id for p in ctx.settings.targets]
    for pid in ids:
        pipe.lrange(ctx.keys.partner_recent(pid), 0, -1)
    return {pid: sparklines.per_minute(recent, now) for pid, recent in zip(ids, pipe.execute())}


def gather(ctx, view: View) -> dict[str, Any]:
    now = time.time()
    st = status.status(ctx, now)
    dead_ids = [i.decode() for i in ctx.redis.zrevrange(ctx.keys.deadletters, 0, DEAD_LETTERS_SHOWN - 1)]
    data = {
        "at": now,
        "view": view,
        "status": st,
        "problems": status.problems(st),
        "dead_by_partner": _dead_letter_counts(ctx),
        "incidents": incidents(ctx, now),
        "last_hour": last_hour(ctx, now),
        "queue_ages": queue_ages.last_hour(ctx, now),
        "failures": recent_failures(ctx, now),
        "dead_letters": records.get_many(ctx, dead_ids),
        "dead_events": dead_events.dead_events(ctx, limit=50),
        "audit": audit.recent(ctx, 20),
        "article": records.for_article(ctx, view.article) if view.article else None,
        "delivery": None,
    }
    if view.delivery:
        rec = records.get(ctx, view.delivery)
        data["delivery"] = {"record": rec, "attempts": records.attempts(ctx, view.delivery) if rec else []}
    return data
