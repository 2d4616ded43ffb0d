"""What /portal shows a partner, read for that partner only: a plain dict the page and its JSON are made from.

    view = View(article="a1")                     # what the partner asked for (query string)
    data = gather(ctx, "kazinform", view)

Every read here is scoped by the partner id of the session (`partner`): its own health, its own
waiting work, its own deliveries (an article's deliveries are filtered to its own, a delivery
id of another partner reads as unknown), its own dead letters, its own signing details. The
page and `/portal/state.json` both come from `gather`, so they cannot disagree.

Health over the last hour and day comes from the partner's recent attempts (the newest 1,000
kept per partner, the ones `status` reads): on a busy day `day.complete` is False and the day's
figures cover only those. Each attempt keeps its time, status, latency and the first 500
characters of the answer; the last attempt of a delivery also keeps the exact headers (our
credentials masked) and body it sent (records.last_request), shown with `?delivery=ID`, so the
partner can reproduce its signature check. A test push keeps what it sent too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from syndication.api.ops_state import REPLAYABLE, incidents
from syndication.delivery import deadletters, records, sample_push
from syndication.ops import queue_ages, sparklines, status
from syndication.partners import verification

SHOWN = 50  # deliveries listed per search, dead letters listed


class BadView(ValueError):
    """A search parameter that cannot be read: the message names it."""


@dataclass(frozen=True)
class View:
    article: str | None = None
    since: float | None = None
    until: float | None = None
    delivery: str | None = None
    note: str | None = None


def parse_time(name: str, value: str | None) -> float | None:
    """An ISO 8601 time (`2026-12-07T15:00`, UTC unless it says otherwise) as unix seconds."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadView(f"{name}: not a time (write it as 2026-12-07T15:00, in UTC)") from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def view_of(article: str | None, since: str | None, until: str | None, delivery: str | None,
            note: str | None) -> View:
    return View(article=article or None, since=parse_time("since", since), until=parse_time("until", until),
                delivery=delivery or None, note=note or None)


def own(rec: dict | None, partner: str) -> dict | None:
    """The record if it is this partner's, else None: another partner's delivery reads as unknown."""
    return rec if rec is not None and rec.get("partner") == partner else None


def deliveries(ctx, partner: str, view: View) -> list[dict[str, Any]]:
    """The partner's deliveries of an article, or in a time range (newest first), with every attempt."""
    if view.article:
        found = [r for r in records.for_article(ctx, view.article) if r["partner"] == partner]
        found.sort(key=lambda r: -r.get("created_at", 0))
    else:
        found = records.for_partner(ctx, partner, since=view.since, limit=SHOWN if view.until is None else 1000)
    if view.since is not None:
        found = [r for r in found if r.get("created_at", 0) >= view.since]
    if view.until is not None:
        found = [r for r in found if r.get("created_at", 0) <= view.until]
    return records.with_attempts(ctx, found[:SHOWN])


def health(ctx, partner: str, now: float) -> dict[str, Any] | None:
    """Its endpoint: circuit, throttling, the last hour and day of attempts, and what waits."""
    target = ctx.settings.target(partner)
    if target is None:
        return None  # it only pulls
    line = status.partner_status(ctx, target, now)
    recent = ctx.redis.lrange(ctx.keys.partner_recent(partner), 0, -1)
    line["hour"] = status.attempt_stats(recent, now - 3600)
    line["day"] = status.attempt_stats(recent, now - 86400)
    line["last_hour"] = sparklines.per_minute(recent, now)
    line["queue_age_hour"] = queue_ages.last_hour(ctx, now, [partner])
    line["incidents"] = [i for i in incidents(ctx, now) if i.get("partner") == partner]
    line["max_in_flight"] = target.max_in_flight
    line["dead_letters"] = len(dead_letter_ids(ctx, partner))
    return line


def dead_letter_ids(ctx, partner: str) -> list[str]:
    return deadletters.select(ctx, partner=partner)


def gather(ctx, partner: str, view: View) -> dict[str, Any]:
    now = time.time()
    settings = ctx.settings
    dead = dead_letter_ids(ctx, partner)
    detail = None
    if view.delivery:
        rec = own(records.get(ctx, view.delivery), partner)
        detail = {"record": rec, "attempts": records.attempts(ctx, view.delivery) if rec else [],
                  "last_request": records.last_request(ctx, view.delivery) if rec else None}
    return {
        "at": now,
        "note": view.note,
        "partner": partner,
        "format": settings.partner(partner).format,
        "health": health(ctx, partner, now),
        "deliveries": deliveries(ctx, partner, view),
        "delivery": detail,
        "dead_letters": records.with_attempts(ctx, records.get_many(ctx, dead[-SHOWN:][::-1])),
        "test_push": sample_push.last(ctx, partner),
        "signing": verification.details(settings.target(partner), settings.secrets_for(partner)),
        "replayable": sorted(REPLAYABLE),
    }
