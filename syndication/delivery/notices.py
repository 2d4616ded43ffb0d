"""Operational notices: what ops must hear about, logged loudly and pushed to the ops webhook.

    partner.circuit_opened   a partner failed breaker_threshold times in a row: pushes stop (ERROR)
    partner.recovered        its circuit closed again after an incident (WARNING)
    partner.disabled         it answered 410 Gone: disabled, deliveries parked (ERROR)
    delivery.dead            a delivery became a dead letter (ERROR)
    event.dead               an event failed to apply too often and was parked (ERROR)

What a notice carries (`data`) is ids, counts, times and a classification, never text from
outside (issue 22): the partner is named by its id, never by its URL (partner URLs are often
capabilities, a token in the path or query); a failure is its HTTP status and `failure`, one
word from FAILURES (`failure_of`), never the partner's response text or an exception's message
(which quotes the URL, or an article's text); an article is named by id and version, never by
its headline (which may be embargoed). `notify` keeps only the FIELDS below, of the types they
have, so a caller cannot add more by mistake; the log line keeps the detail for ops.

Every notice is logged. With SYNDICATION_OPS_WEBHOOK_URL set it is also POSTed there, as Svix
sends its operational webhooks: a JSON body `{"type", "timestamp", "data"}`, signed per
Standard Webhooks with SYNDICATION_OPS_WEBHOOK_SECRET. It travels as a delivery to the
`ops-webhook` system target (configuration.py builds it; a target, not a partner), so it gets the same durable retries, history and circuit as
partner pushes (its body is kept in `notice:{id}` for a week). Notices about the ops webhook
itself are only logged: a failing ops endpoint must not feed itself.

Rate limit: one notice per kind and subject (a partner, or "events") per WINDOW; the ones
held back are counted and reported as `data.suppressed` in the next one, so a nine-minute
outage with thousands of dead letters sends a handful of notices, not thousands.

Incidents: a circuit opening starts one (`incident:{id}`, listed in `incidents` for
INCIDENT_DAYS); the recovery ends it, with how many distinct deliveries failed meanwhile
(a HyperLogLog the recorder feeds). `/ops` shows them after the partner is healthy again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

from syndication.delivery import circuit, model, records, schedule
from syndication.infra.context import Context
from syndication.partners.target import OPS_WEBHOOK

log = logging.getLogger("syndication.notices")
NOTICE_EVENT = model.NOTICE_EVENT
WINDOW = 300.0
NOTICE_TTL = 7 * 86400
INCIDENT_DAYS = 7
# The only fields a notice's data may carry (ids, counts, times, classifications) and their types.
FIELDS: dict[str, tuple[type, ...]] = {
    "partner": (str,), "incident": (str,), "delivery_id": (str,), "event_id": (str,), "article_id": (str,),
    "version": (int,), "attempts": (int,), "consecutive_failures": (int,), "affected": (int,),
    "status": (int,), "failure": (str,), "error_type": (str,), "failing_since": (str,)}
# `failure`: why a push (or an event) failed, as a word; the detail stays in the log and in /ops.
FAILURES = ("gone", "rate_limited", "server_error", "client_error", "redirect", "unexpected_status",
            "timeout", "connection_refused", "dns_error", "tls_error", "connection_error", "address_refused",
            "url_refused", "render_failed", "no_response", "apply_failed")
LEVELS = {"partner.circuit_opened": logging.ERROR, "partner.recovered": logging.WARNING,
          "partner.disabled": logging.ERROR, "delivery.dead": logging.ERROR, "event.dead": logging.ERROR}

# KEYS[1] window hash. ARGV: now, window. Returns -1 (held back) or how many were held back before.
_WINDOW = """
local sent = tonumber(redis.call('HGET', KEYS[1], 'sent_at') or '0')
if tonumber(ARGV[1]) - sent < tonumber(ARGV[2]) then
  redis.call('HINCRBY', KEYS[1], 'suppressed', 1)
  return -1
end
local held = tonumber(redis.call('HGET', KEYS[1], 'suppressed') or '0')
redis.call('HSET', KEYS[1], 'sent_at', ARGV[1], 'suppressed', 0)
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 4))
return held
"""


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def failure_of(status: int | str | None, error: str | None) -> str:
    """One word of FAILURES for a failed push: from its HTTP status, else from the kind of error
    (delivery/http.py's `error` strings start with the error's kind; their text is not forwarded)."""
    if status not in (None, ""):
        code = int(status)
        return ("gone" if code == 410 else "rate_limited" if code == 429 else "server_error" if code >= 500
                else "client_error" if code >= 400 else "redirect" if 300 <= code < 400 else "unexpected_status")
    error = error or ""
    for prefix, word in (("timeout", "timeout"), ("address refused", "address_refused"),
                         ("url refused", "url_refused"), ("cannot render", "render_failed"), ("SSLError", "tls_error")):
        if error.startswith(prefix):
            return word
    if "NameResolutionError" in error or "Failed to resolve" in error:
        return "dns_error"
    if "Connection refused" in error or "ECONNREFUSED" in error:
        return "connection_refused"
    return "connection_error" if error else "no_response"


def _safe(data: dict[str, Any]) -> dict[str, Any]:
    """The FIELDS of `data` that have their type (None allowed); anything else is not sent."""
    out = {}
    for key, value in data.items():
        types = FIELDS.get(key)
        if types and (value is None or (isinstance(value, types) and not isinstance(value, bool))):
            out[key] = value
    return out


def notify(ctx: Context, kind: str, subject: str, data: dict[str, Any], now: float | None = None,
           message: str = "", trace: dict | None = None) -> str | None:
    """Log the notice; push it to the ops webhook unless rate-limited. Returns the notice id if pushed.
    `trace`: the trace of the delivery it is about (its push carries a `traceparent` in it)."""
    now = now or time.time()
    log.log(LEVELS.get(kind, logging.WARNING), message or kind,
            extra={"notice": kind, **{k: v for k, v in data.items() if k in ("partner", "delivery_id", "event_id",
                                                                              "status", "article_id")}})
    if ctx.settings.ops_webhook_target is None or data.get("partner") == OPS_WEBHOOK:
        return None
    held = ctx.script(_WINDOW)(keys=[ctx.keys.notice_window(kind, subject)], args=[now, WINDOW])
    if int(held) < 0:
        return None
    nid = "ntc_" + hashlib.sha256(f"{kind}\x00{subject}\x00{now}".encode()).hexdigest()[:26]
    body = {"type": kind, "timestamp": _iso(now), "data": {**_safe(data), "suppressed": int(held)}}
    ctx.redis.set(ctx.keys.notice(nid), json.dumps(body, separators=(",", ":"), default=str), ex=NOTICE_TTL)
    records.create(ctx, OPS_WEBHOOK, model.Subject(model.NOTICE, nid), event_id=nid, event_type=NOTICE_EVENT, now=now,
                   trace=trace)
    schedule.mark_ready(ctx, [OPS_WEBHOOK])
    return nid


def body_of(ctx: Context, notice_id: str) -> bytes:
    """The stored JSON of a notice (a placeholder if it expired before it could be sent)."""
    raw = ctx.redis.get(ctx.keys.notice(notice_id))
    return raw or json.dumps({"type": "notice.expired", "data": {"id": notice_id}}).encode()


# -- incidents ---------------------------------------------------------------------------------


def open_incident(ctx: Context, partner, health: dict[str, str], now: float) -> str:
    """A partner's circuit opened: start an incident, log it, notify."""
    since = float(health.get("failing_since") or now)
    iid = f"{partner.id}-{int(since * 1000)}"
    k = ctx.keys
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.hset(k.incident(iid), mapping={"partner": partner.id, "started_at": since, "opened_at": now,
                                        "last_status": health.get("last_status", ""),
                                        "last_error": health.get("last_error", "")})
    circuit.queue_incident(pipe, k, partner.id, iid)
    pipe.zadd(k.incidents, {iid: since})
    pipe.zremrangebyscore(k.incidents, "-inf", now - INCIDENT_DAYS * 86400)
    pipe.execute()
    why = f"HTTP {health['last_status']}" if health.get("last_status") else (health.get("last_error") or "failures")
    status = int(health["last_status"]) if (health.get("last_status") or "").isdigit() else None
    notify(ctx, "partner.circuit_opened", partner.id, {
        "partner": partner.id, "failing_since": _iso(since), "incident": iid,
        "consecutive_failures": int(health.get("failures") or 0), "status": status,
        "failure": failure_of(status, health.get("last_error"))}, now,
        message=f"partner {partner.id}: circuit opened after {health.get('failures')} consecutive failures "
                f"({why}); pushes stop until a probe succeeds")
    return iid


def close_incident(ctx: Context, partner, incident_id: str | None, affected: int, now: float) -> None:
    """A partner's circuit closed after being open: end the incident, log it, notify."""
    k = ctx.keys
    started = None
    if incident_id:
        started = ctx.redis.hget(k.incident(incident_id), "started_at")
        pipe = ctx.redis.pipeline(transaction=True)
        pipe.hset(k.incident(incident_id), mapping={"ended_at": now, "affected": affected})
        pipe.expire(k.incident(incident_id), INCIDENT_DAYS * 86400)
        pipe.execute()
    lasted = f" after {now - float(started):.0f} s" if started else ""
    notify(ctx, "partner.recovered", partner.id, {
        "partner": partner.id, "incident": incident_id, "affected": affected,
        "failing_since": _iso(float(started)) if started else None}, now,
        message=f"partner {partner.id}: recovered{lasted}; {affected} deliveries were affected")


def incidents(ctx: Context, since: float | None = None) -> list[dict[str, Any]]:
    """Incidents started since `since` (default: the last 7 days), newest first."""
    since = since if since is not None else time.time() - INCIDENT_DAYS * 86400
    ids = [i.decode() for i in ctx.redis.zrevrangebyscore(ctx.keys.incidents, "+inf", since)]
    pipe = ctx.redis.pipeline(transaction=False)
    for iid in ids:
        pipe.hgetall(ctx.keys.incident(iid))
    out = []
    for iid, h in zip(ids, pipe.execute()):
        if not h:
            continue
        d = {k.decode(): v.decode() for k, v in h.items()}
        out.append({"id": iid, "partner": d.get("partner"), "started_at": float(d.get("started_at") or 0),
                    "opened_at": float(d.get("opened_at") or 0),
                    "ended_at": float(d["ended_at"]) if d.get("ended_at") else None,
                    "affected": int(d["affected"]) if d.get("affected") else None,
                    "last_status": d.get("last_status") or None, "last_error": d.get("last_error") or None})
    return out
