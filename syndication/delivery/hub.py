"""Our own WebSub hub's deliveries: verifying a subscriber's intent, and sending it a feed's content.

The push path (push.py) handles these two kinds like any other delivery (claimed, leased, recorded,
retried, circuit per subscriber); what is particular to them is here:

- `reads`: what a wave loads for them, with the records (each subscription once, each feed once);
- `superseded`: content only while the subscription is live (active, lease not ended: checked at
  send, not only by the sweep) and only while its ETag is the feed's current one (a lagging
  subscriber gets the newest version, its older pending ones are superseded); a verification only
  while its request is the subscription's latest;
- preparers: the verification (W3C WebSub 5.3) is a GET of the callback with `hub.mode`,
  `hub.topic`, `hub.challenge` and `hub.lease_seconds`; content (7) is a POST of the feed's stored
  bytes with its Content-Type, `Link: <hub>; rel="hub", <topic>; rel="self"` and, with a secret,
  `X-Hub-Signature: sha256=<HMAC of the body>`;
- `send_verification`: a 2xx whose body is the challenge, exactly, confirms; the subscription is
  activated (or removed) right then, before the outcome is recorded: idempotent, so a crash in
  between only verifies again. Any other 2xx denies;
- `settle`: a verification that failed for good denies the request (nothing active remains of
  one never confirmed); content answered 410 Gone ends the subscription; a subscriber's failures
  end as `cancelled`, never as dead letters waiting
  for an operator (anyone can subscribe: no operator is paged for a stranger's callback).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

from syndication.delivery import http, subscription_ends, subscriptions
from syndication.delivery.decide import Decision
from syndication.delivery.lifecycle import DeliveryStatus
from syndication.delivery.model import HUB_CONTENT, HUB_KINDS, HUB_VERIFY, Delivery
from syndication.infra import metrics
from syndication.infra.context import Context


def topic_parts(topic: str) -> tuple[str, str]:
    """(feed, format) of one of our topic URLs (`.../feeds/{name}.{fmt}`; names hold no dot)."""
    name, _, fmt = topic.rpartition("/")[2].rpartition(".")
    return name, fmt


class Reads:
    """What a wave reads for its hub deliveries, queued with the article reads (push.load_many)."""

    def __init__(self, batches: list[tuple[str, dict[str, Delivery]]]):
        self.subs = sorted({pid for pid, found in batches if any(d.subject.kind in HUB_KINDS for d in found.values())})
        self.feeds = sorted({topic_parts(d.subject.id) for _, found in batches for d in found.values()
                             if d.subject.kind == HUB_CONTENT})

    def __len__(self) -> int:
        return len(self.subs) + len(self.feeds)

    def queue(self, pipe, keys) -> None:
        for sid in self.subs:
            subscriptions.queue_get(pipe, keys, sid)
        for name, fmt in self.feeds:
            pipe.hmget(keys.feed_rendered(name, fmt), "body", "etag", "content_type")

    def read(self, replies: list) -> dict:
        subs = {sid: subscriptions.decode(h) if h else None for sid, h in zip(self.subs, replies)}
        feeds = {}
        for feed, (body, etag, ctype) in zip(self.feeds, replies[len(self.subs):]):
            feeds[feed] = {"body": body or b"", "etag": (etag or b"").decode(), "content_type": (ctype or b"").decode()}
        return {"subs": subs, "feeds": feeds}


def superseded(d: Delivery, hub: dict, now: float | None = None) -> DeliveryStatus | None:
    rec = hub.get("subs", {}).get(d.partner)
    if d.subject.kind == HUB_VERIFY:
        return None if rec and rec.get("intent") == d.event_id else DeliveryStatus.SUPERSEDED
    if not subscriptions.is_live(rec, now or time.time()):
        return DeliveryStatus.CANCELLED
    current = hub.get("feeds", {}).get(topic_parts(d.subject.id), {}).get("etag")
    return DeliveryStatus.SUPERSEDED if current != d.event_id else None


def prepare_verify(ctx: Context, target, d: Delivery, hub: dict, now: float) -> tuple[bytes, dict]:
    """The verification's query (sent as a GET by `send_verification`), as the body."""
    rec = hub["subs"][d.partner]
    params = {"hub.mode": rec["intent_mode"], "hub.topic": rec["topic"], "hub.challenge": rec["intent_challenge"]}
    if rec["intent_mode"] == subscriptions.SUBSCRIBE:
        params["hub.lease_seconds"] = str(rec["intent_lease"])
    return urlencode(params).encode(), {}


def prepare_content(ctx: Context, target, d: Delivery, hub: dict, now: float) -> tuple[bytes, dict]:
    rec = hub["subs"][d.partner]
    feed = hub["feeds"][topic_parts(d.subject.id)]
    body = feed["body"]
    headers = {"Content-Type": feed["content_type"],
               "Link": f'<{ctx.settings.websub_hub}>; rel="hub", <{rec["topic"]}>; rel="self"'}
    if rec.get("secret"):
        headers["X-Hub-Signature"] = "sha256=" + hmac.new(rec["secret"].encode(), body, hashlib.sha256).hexdigest()
    return body, headers


def kept_body(d: Delivery, body: bytes) -> bytes:
    """What a subscriber's last request keeps of its body (records.add_attempt): a verification's
    query, but not a copy of the feed per subscriber per change; the feed's ETag says which it was."""
    if d.subject.kind == HUB_VERIFY:
        return body
    return f"(the feed {d.subject.id} at ETag {d.event_id}: {len(body)} bytes, not kept per subscriber)".encode()


def send_verification(ctx: Context, target, d: Delivery, query: bytes, headers: dict, hub: dict) -> http.Response:
    """GET the callback; a 2xx echoing the challenge confirms the request, activated here and now."""
    resp = http.send(target, b"", headers, method="GET", query=query.decode())
    if resp.status is None or not 200 <= resp.status < 300:
        return resp
    rec = hub["subs"][d.partner]
    if resp.excerpt != rec["intent_challenge"]:
        return http.Response(resp.status, resp.headers, resp.excerpt, resp.latency,
                             "verification denied: the answer did not echo hub.challenge", permanent=True)
    _counted(ctx, subscriptions.activate(ctx, rec, d.event_id, time.time()))
    return resp


def _counted(ctx: Context, outcome: str) -> None:
    """A verification that decided something (not a stale one), on /metrics: subscribed, unsubscribed, denied."""
    if outcome in ("subscribed", "unsubscribed", "removed", "kept"):
        metrics.inc(ctx.redis, ctx.keys, "websub_verifications",
                    outcome=outcome if outcome in ("subscribed", "unsubscribed") else "denied")


def settle(ctx: Context, d: Delivery, hub: dict, decision: Decision, now: float) -> Decision:
    """A subscriber's delivery that failed for good is cancelled (no dead letter, no parked target);
    for a verification, its request is denied."""
    if decision.status not in (DeliveryStatus.DEAD, DeliveryStatus.PARKED):
        return decision
    rec = hub["subs"].get(d.partner)
    if d.subject.kind == HUB_VERIFY and rec:
        _counted(ctx, subscriptions.deny(ctx, rec, d.event_id, now))
    elif decision.status is DeliveryStatus.PARKED and rec:  # 410 Gone: the subscriber left
        subscriptions.remove(ctx, rec, subscription_ends.GONE, now)
    return Decision(DeliveryStatus.CANCELLED, "denied" if d.subject.kind == HUB_VERIFY else "cancelled",
                    decision.outcome, health=decision.health)
