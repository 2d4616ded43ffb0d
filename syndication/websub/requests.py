"""Subscribe and unsubscribe requests to our own WebSub hub (W3C WebSub 5.1): checked, throttled, recorded.

    sub_id = accept(ctx, form, client)      # 202 at once; Refused(status, error, detail) otherwise

A hub is an open door, so a request is refused (4xx naming the problem, never a 500) unless:
its client address is under `websub_subscribe_rate` requests a minute (GCRA in Redis, shared by
every API process: 429 with Retry-After); `hub.mode` is subscribe or unsubscribe; `hub.topic` is
one of our own public feed URLs; `hub.callback` is an http(s) URL with one reading, whose host
resolves to public addresses only (the SSRF guard, partners/address.py; the push checks again at
every connection) unless `websub_allow_private_callbacks`; `hub.secret` is under 200 bytes; and
the hub's caps (in all, per callback host) leave room for a new subscription. Unknown parameters
are ignored. The verification of intent then goes through the delivery engine (delivery/hub.py).
"""

from __future__ import annotations

import math
import secrets
import socket
import time
from urllib.parse import urlsplit

from syndication.delivery import ratelimit, records, schedule, subscriptions, targets
from syndication.delivery.model import VERIFY_EVENT, HUB_VERIFY, Subject
from syndication.errors import AddressRefused
from syndication.feeds.spec import FEED_FORMATS
from syndication.identity import feed_url
from syndication.infra.context import Context
from syndication.partners import address

MAX_SECRET_BYTES = 200  # WebSub 5.1: hub.secret MUST be less than 200 bytes
CAP_RETRY = 3600  # Retry-After of a request past a cap: leases end and free room, but not soon

# KEYS: the client's limiter. ARGV: requests, period, burst, now. Returns '0' (go) or when it may ask again.
_THROTTLE = ratelimit.LUA + """
local room, wake = rate_room(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 1)
if room == 0 then return tostring(wake) end
rate_take(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 1)
return '0'
"""


class Refused(Exception):
    """A request the hub will not take: the HTTP status, an error code and what is wrong."""

    def __init__(self, status: int, error: str, detail: str, retry_after: int | None = None):
        super().__init__(detail)
        self.status, self.error, self.detail, self.retry_after = status, error, detail, retry_after


def accept(ctx: Context, form: dict[str, str], client: str, now: float | None = None,
           resolver=socket.getaddrinfo) -> str:
    """Check and record one request, and queue its verification; returns the subscription id."""
    s, now = ctx.settings, now or time.time()
    if not s.websub_own_hub:
        raise Refused(404, "no_hub", "this service runs no WebSub hub of its own (SYNDICATION_WEBSUB_HUB)")
    _throttle(ctx, client, now)
    mode = form.get("hub.mode", "")
    if mode not in (subscriptions.SUBSCRIBE, subscriptions.UNSUBSCRIBE):
        raise Refused(400, "invalid_request", "hub.mode must be subscribe or unsubscribe")
    topic = form.get("hub.topic", "")
    feed, fmt = _topic(ctx, topic)
    callback = form.get("hub.callback", "")
    host = _callback(ctx, callback, resolver)
    secret = form.get("hub.secret", "")
    if len(secret.encode()) >= MAX_SECRET_BYTES:
        raise Refused(400, "invalid_request", f"hub.secret must be less than {MAX_SECRET_BYTES} bytes")
    req = subscriptions.Request(mode, topic, feed, fmt, callback, host, _lease(ctx, form.get("hub.lease_seconds")),
                                secret, challenge=secrets.token_urlsafe(24), token=secrets.token_hex(12))
    answer = subscriptions.request(ctx, req, max_total=s.websub_max_subscriptions,
                                   max_per_host=s.websub_max_per_host, now=now)
    if answer == "unknown":
        raise Refused(404, "not_subscribed", "no subscription of this hub.callback to this hub.topic")
    if answer == "full":
        raise Refused(429, "hub_full", f"the hub holds its maximum of {s.websub_max_subscriptions} subscriptions",
                      retry_after=CAP_RETRY)
    if answer == "host_full":
        raise Refused(429, "host_full", f"callbacks on {host} hold their maximum of {s.websub_max_per_host} "
                                        "subscriptions", retry_after=CAP_RETRY)
    _verify(ctx, req, now)
    return req.id


def _verify(ctx: Context, req: subscriptions.Request, now: float) -> None:
    """The verification of intent: a delivery to the subscriber's target, due now."""
    pipe = ctx.redis.pipeline(transaction=False)
    targets.queue_busy(pipe, ctx.keys, [req.id], now)  # first: the sweeper finds it even if we stop here
    records.queue_create(ctx, pipe, req.id, Subject(HUB_VERIFY, req.id), event_id=req.token,
                         event_type=VERIFY_EVENT, now=now, version_key=req.token)
    pipe.execute()
    schedule.mark_ready(ctx, [req.id])


def _throttle(ctx: Context, client: str, now: float) -> None:
    rate = ctx.settings.websub_subscribe_rate
    wake = float(ctx.script(_THROTTLE)(keys=[ctx.keys.websub_rate(client)], args=[rate, 60, rate, now]))
    if wake:
        wait = max(1, math.ceil(wake - now))
        raise Refused(429, "too_many_requests", f"too many subscription requests from this address; retry in "
                                                f"{wait} s", retry_after=wait)


def _topic(ctx: Context, topic: str) -> tuple[str, str]:
    """(feed, format) of one of our public feeds' URLs, or Refused naming the problem."""
    if not topic:
        raise Refused(400, "invalid_request", "hub.topic is required")
    base = ctx.settings.base_url
    for spec in ctx.settings.feeds:
        for fmt in FEED_FORMATS:
            if feed_url(base, spec.name, fmt) == topic:
                if spec.access != "public":
                    raise Refused(403, "topic_refused", "hub.topic is a feed that needs a partner key; this hub "
                                                        "distributes public feeds only")
                return spec.name, fmt
    raise Refused(404, "unknown_topic", f"hub.topic is not a feed of this hub (its topics are "
                                        f"{base}/feeds/{{name}}.{{rss,atom,json}} of the feeds in GET /feeds)")


def _callback(ctx: Context, callback: str, resolver) -> str:
    """The callback's host, once it passed the URL rules and (unless allowed) the address guard."""
    if not callback:
        raise Refused(400, "invalid_request", "hub.callback is required")
    try:
        address.check_url(callback)
    except ValueError as exc:
        raise Refused(400, "invalid_callback", f"hub.callback: {exc}") from None
    parts = urlsplit(callback)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(400, "invalid_callback", "hub.callback must be an http or https URL")
    if not ctx.settings.websub_allow_private_callbacks:
        try:
            address.resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), resolver)
        except AddressRefused as exc:
            raise Refused(403, "callback_refused", f"hub.callback: {exc}") from None
        except OSError:
            raise Refused(400, "invalid_callback", "hub.callback: its host does not resolve") from None
    return parts.hostname


def _lease(ctx: Context, raw: str | None) -> int:
    """The lease to grant: the default when none is asked, else the asked one within the hub's bounds."""
    s = ctx.settings
    if raw in (None, ""):
        return int(s.websub_lease)
    if not (raw.isascii() and raw.isdigit()):
        raise Refused(400, "invalid_request", "hub.lease_seconds must be a whole number of seconds")
    return int(min(max(int(raw), s.websub_min_lease), s.websub_max_lease))
