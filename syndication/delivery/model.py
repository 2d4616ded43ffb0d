"""What a delivery is: its subject, its record as the push path reads it, its attempts, its id.

A delivery names its *subject* (`Subject`: kind, id, version): a version of an article, a feed
(a WebSub hub ping: the feed URL, whose ETag makes the delivery id), an ops notice (the notice
id), or our own hub's verification of a subscription and content for a subscriber (HUB_KINDS). The record keeps the subject in the hash fields it always had (`article_id`, `version`)
plus `kind`; a record written before `kind` was stored takes its kind from its event type
(`KINDS`), so records already in Redis read as they did.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from syndication.delivery.lifecycle import FINAL, DeliveryStatus

ARTICLE, WEBSUB, NOTICE = "article", "websub", "notice"
# Our own hub (delivery/hub.py): the verification of a subscription request (the subject is the
# subscription id, the event id the request's token) and a feed's content to one subscriber (the
# subject is the topic URL, the event id the feed's ETag).
HUB_VERIFY, HUB_CONTENT = "hub.verify", "hub.content"
HUB_KINDS = (HUB_VERIFY, HUB_CONTENT)
WEBSUB_EVENT = "websub.publish"  # a hub ping: the subject is a feed URL, the version its ETag
NOTICE_EVENT = "ops.notice"  # an ops webhook notice: the subject is the notice id (delivery/notices.py)
VERIFY_EVENT, CONTENT_EVENT = "websub.verify", "websub.content"
KINDS = {WEBSUB_EVENT: WEBSUB, NOTICE_EVENT: NOTICE, VERIFY_EVENT: HUB_VERIFY, CONTENT_EVENT: HUB_CONTENT}


@dataclass(frozen=True)
class Subject:
    """What a delivery is about."""

    kind: str  # ARTICLE | WEBSUB | NOTICE | HUB_VERIFY | HUB_CONTENT
    id: str  # an article id, a feed URL, a notice id
    version: int = 0  # the article's version (0 for the others)


@dataclass(frozen=True)
class Delivery:
    """One delivery record as the push path reads it (the hash `delivery:{id}`)."""

    id: str
    partner: str
    subject: Subject
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int = 0
    attempts_base: int = 0  # attempts before the last replay: the retry budget counts from here
    created_at: float = 0.0
    replayed_at: float | None = None
    occurred_at: str = ""
    traceparent: str = ""  # the event's trace and the span its attempts descend from (tracecontext.py)
    tracestate: str = ""

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @classmethod
    def from_hash(cls, h: dict) -> "Delivery":
        d = decode(h)
        event_type = d.get("event_type", "")
        subject = Subject(d.get("kind") or KINDS.get(event_type, ARTICLE), d["article_id"], d.get("version", 0))
        return cls(id=d["id"], partner=d["partner"], subject=subject, event_id=d.get("event_id", ""),
                   event_type=event_type, status=DeliveryStatus(d["status"]), attempts=d.get("attempts", 0),
                   attempts_base=d.get("attempts_base", 0), created_at=d.get("created_at", 0.0),
                   replayed_at=d.get("replayed_at"), occurred_at=d.get("occurred_at", ""),
                   traceparent=d.get("traceparent", ""), tracestate=d.get("tracestate", ""))


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt of a delivery, as kept in `delivery:{id}:attempts` (newest last)."""

    n: int
    at: float
    status: int | None
    latency_ms: float
    outcome: str
    error: str | None = None
    response: str | None = None  # the first 500 characters of the partner's answer
    traceparent: str | None = None  # the header sent: the event's trace id, this attempt's span id

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def delivery_id(subject_id: str, version: int | str, partner_id: str) -> str:
    """The delivery's id (its `webhook-id`): the same however often it is created, retried or replayed."""
    digest = hashlib.sha256(f"{subject_id}\x00{version}\x00{partner_id}".encode()).hexdigest()
    return f"msg_{digest[:26]}"


def decode(h: dict) -> dict[str, Any]:
    """A record's hash as Redis answers it (bytes) with its numbers as numbers."""
    out = {k.decode(): v.decode() for k, v in h.items()}
    for key in ("version", "attempts", "last_status", "attempts_base", "replays"):
        if out.get(key) not in (None, ""):
            out[key] = int(out[key])
    for key in ("created_at", "updated_at", "next_attempt_at", "finished_at", "replayed_at"):
        if out.get(key) not in (None, ""):
            out[key] = float(out[key])
    if out.get("traceparent"):  # what history shows: the publisher's trace this delivery belongs to
        out["trace_id"] = out["traceparent"][3:35]
    return out
