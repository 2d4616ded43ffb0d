"""Pushing a batch of one partner's due deliveries: prepare -> send -> record.

A push task drains up to `batch_size` due ids of one partner (claimed with a
lease, see schedule.py) and sends them in sequence on the partner's
keep-alive session. Each delivery is:

- checked: skipped as *superseded* when the article has moved past its
  version or the partner already acknowledged a newer one (a pending retry
  of v1 never lands after v2);
- prepared: rendered in the partner's format, signed (pure);
- sent: one HTTP POST with explicit timeouts;
- recorded: the attempt, then success / retry at a backoff time / dead
  letter / parked, all in one Redis transaction that also drops the lease.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from syndication.infra import metrics
from syndication.infra.context import Context
from syndication.delivery import websub
from syndication.partners.formats import PUSH_FORMATS, Push
from syndication.partners.signing import auth_headers
from syndication.delivery import circuit
from syndication.delivery import http
from syndication.delivery import records
from syndication.delivery import schedule
from syndication.delivery.backoff import compute_backoff, parse_retry_after
from syndication.delivery.outcome import Outcome, classify
from syndication.delivery.records import DeliveryStatus

log = logging.getLogger("syndication.delivery")
BATCH_TIME_BUDGET = 20.0  # seconds; then the rest goes back to due for the next task

# KEYS[1] partner acked hash. ARGV: article id, version. Keeps the highest acknowledged version.
_ACK = """
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return cur
"""


@dataclass
class BatchResult:
    partner: str
    outcomes: dict[str, int] = field(default_factory=dict)
    more_due: bool = False

    def count(self, what: str) -> None:
        self.outcomes[what] = self.outcomes.get(what, 0) + 1


def build_push(ctx: Context, rec: dict) -> Push:
    state = ctx.articles.get(rec["article_id"])
    return Push(
        delivery_id=rec["id"], event_id=rec["event_id"], event_type=rec["event_type"],
        article_id=rec["article_id"], version=rec["version"],
        article=state.data if state else None,
        withdrawn=rec["event_type"] == "article.withdrawn",
        reason=state.reason if state else "",
        occurred_at=rec.get("occurred_at") or None,
    )


def superseded(ctx: Context, rec: dict) -> DeliveryStatus | None:
    """Why this delivery must not be sent any more, or None if it should be."""
    if rec["event_type"] == "websub.publish":
        return None  # a hub ping is always worth sending: the hub fetches the latest bytes
    if rec["event_type"] == "article.withdrawn":
        # Always sent: a partner that never got a version learns nothing it can misuse, while
        # skipping risks a partner keeping an article whose push was on the wire (at-least-once).
        return None
    state = ctx.articles.get(rec["article_id"])
    acked = int(ctx.redis.hget(ctx.keys.partner_acked(rec["partner"]), rec["article_id"]) or 0)
    if acked > rec["version"]:  # equal: this very delivery, replayed on purpose
        return DeliveryStatus.SUPERSEDED
    if state is not None and state.version > rec["version"]:
        return DeliveryStatus.CANCELLED if state.withdrawn else DeliveryStatus.SUPERSEDED
    return None


def prepare(ctx: Context, partner, rec: dict, now: float) -> tuple[bytes, dict[str, str]]:
    if rec["event_type"] == "websub.publish":
        return websub.ping(rec["article_id"])
    fmt = PUSH_FORMATS[partner.format]
    body = fmt.render(build_push(ctx, rec), base_url=ctx.settings.base_url)
    headers = {"Content-Type": fmt.media_type}
    headers.update(auth_headers(partner, ctx.settings.secrets_for(partner.id),
                                rec["id"], int(now), body))
    return body, headers


def record(ctx: Context, partner, rec: dict, resp: http.Response, now: float) -> str:
    """Store the attempt and decide what happens next; returns the outcome name."""
    policy = partner.retry
    outcome = classify(resp.status, retry_on=policy.retry_on, permanent_on=policy.permanent_on)
    if resp.permanent:
        outcome = Outcome.PERMANENT
    attempt_no = rec.get("attempts", 0) + 1
    # A replay starts a fresh budget of attempts and age; the history keeps every attempt.
    tries = attempt_no - rec.get("attempts_base", 0)
    age = now - max(rec["created_at"], rec.get("replayed_at") or 0)
    k = ctx.keys
    did = rec["id"]
    pipe = ctx.redis.pipeline(transaction=True)
    records.add_attempt(pipe, k, did, {
        "n": attempt_no, "at": now, "status": resp.status, "latency_ms": round(resp.latency * 1000, 1),
        "outcome": outcome.value, "error": resp.error, "response": resp.excerpt[:500] or None,
    })
    fields = {"last_status": resp.status if resp.status is not None else "", "last_error": resp.error or ""}
    if outcome is Outcome.SUCCESS:
        records.set_status(pipe, k, did, DeliveryStatus.DELIVERED, now, **fields)
        schedule.release(pipe, k, partner.id, did)
        result = "delivered"
    elif outcome is Outcome.RETRY and tries < policy.max_attempts and age < policy.max_age:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"), now)
        delay = compute_backoff(attempt=attempt_no, base=policy.base_delay, cap=policy.max_delay,
                                retry_after=retry_after, max_retry_after=policy.max_retry_after)
        records.set_status(pipe, k, did, DeliveryStatus.RETRYING, now, next_attempt_at=now + delay, **fields)
        schedule.release(pipe, k, partner.id, did, due_at=now + delay)
        result = "retry"
    elif outcome is Outcome.GONE:
        records.set_status(pipe, k, did, DeliveryStatus.PARKED, now, **fields)
        schedule.release(pipe, k, partner.id, did)
        circuit.disable(pipe, k, partner.id, now, reason=f"HTTP 410 from {partner.url}")
        pipe.zadd(k.partner_parked(partner.id), {did: now})
        result = "parked"
    else:
        records.set_status(pipe, k, did, DeliveryStatus.DEAD, now, **fields)
        schedule.release(pipe, k, partner.id, did)
        pipe.zadd(k.deadletters, {did: now})
        result = "dead"
    metrics.inc(pipe, k, "deliveries", partner=partner.id, outcome=result)
    metrics.observe(pipe, k, "delivery_latency_seconds", resp.latency, partner=partner.id)
    if result == "retry":
        metrics.inc(pipe, k, "retries_scheduled", partner=partner.id)
    elif result == "dead":
        metrics.inc(pipe, k, "dead_letters", partner=partner.id)
    pipe.lpush(k.partner_recent(partner.id), f"{now:.3f},{resp.latency:.4f},{int(result == 'delivered')}")
    pipe.ltrim(k.partner_recent(partner.id), 0, 999)
    pipe.execute()
    if outcome is Outcome.SUCCESS and rec["event_type"] != "websub.publish":
        ctx.script(_ACK)(keys=[k.partner_acked(partner.id)], args=[rec["article_id"], rec["version"]])
    if outcome in (Outcome.SUCCESS, Outcome.RETRY):  # a 4xx about one payload says nothing of health
        circuit.observe(ctx, partner, success=outcome is Outcome.SUCCESS, now=now)
    log.info("delivery attempt", extra={"delivery_id": did, "partner": partner.id,
             "article_id": rec["article_id"], "version": rec["version"], "attempt": attempt_no,
             "outcome": result, "status": resp.status, "latency_ms": round(resp.latency * 1000, 1)})
    return result


def finish_without_sending(ctx: Context, partner, did: str, status: DeliveryStatus, now: float) -> None:
    log.info("delivery not sent", extra={"delivery_id": did, "partner": partner.id, "outcome": status.value})
    pipe = ctx.redis.pipeline(transaction=True)
    records.set_status(pipe, ctx.keys, did, status, now)
    schedule.release(pipe, ctx.keys, partner.id, did)
    pipe.execute()


def deliver_one(ctx: Context, partner, did: str, clock=time.time) -> str:
    rec = records.get(ctx, did)
    now = clock()
    if rec is None or DeliveryStatus(rec["status"]) in records.FINAL:
        schedule.release(ctx.redis, ctx.keys, partner.id, did)
        return "skipped"
    reason = superseded(ctx, rec)
    if reason is not None:
        finish_without_sending(ctx, partner, did, reason, now)
        return reason.value
    try:
        body, headers = prepare(ctx, partner, rec, now)
    except Exception as exc:  # a format that cannot render this article: dead letter, not a stuck batch
        log.exception("cannot prepare delivery %s", did)
        resp = http.Response(None, {}, "", 0.0, f"cannot render {partner.format}: {exc}"[:300], permanent=True)
        return record(ctx, partner, rec, resp, clock())
    resp = http.send(partner, body, headers)
    return record(ctx, partner, rec, resp, clock())


def push_batch(ctx: Context, partner_id: str, clock=time.time) -> BatchResult:
    """Send up to one batch of the partner's due deliveries."""
    result = BatchResult(partner_id)
    ctx.redis.delete(ctx.keys.partner_kick(partner_id))  # arrivals from now on queue a new batch
    partner = ctx.settings.partner(partner_id)
    if partner is None or not circuit.may_send(ctx, partner, clock(), take=False):
        return result
    slot = circuit.acquire_slot(ctx, partner, clock())
    if slot is None:  # max_in_flight pushes already running: they will drain the rest
        return result
    try:
        ids = schedule.claim(ctx, partner, clock(), partner.batch_size)
        started = time.monotonic()
        for i, did in enumerate(ids):
            if time.monotonic() - started > BATCH_TIME_BUDGET or not circuit.may_send(ctx, partner, clock()):
                pipe = ctx.redis.pipeline(transaction=True)
                for rest in ids[i:]:
                    schedule.release(pipe, ctx.keys, partner.id, rest, due_at=clock())
                pipe.execute()
                break
            schedule.renew(ctx, partner, ids[i:], clock())
            circuit.renew_slot(ctx, partner, slot, clock())
            result.count(deliver_one(ctx, partner, did, clock))
    finally:
        circuit.release_slot(ctx, partner, slot)
    result.more_due = schedule.due_count(ctx, partner_id, clock()) > 0
    return result
