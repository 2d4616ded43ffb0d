"""Our WebSub hub's counters (kept in Redis, infra/metrics.py; on /metrics): requests, distributions.

    counting.request(ctx, form, error=None)       POST /websub answered (api/websub_routes.py)
    counting.distributed(ctx, feed, {fmt: n})     content deliveries created for a change (distribute.py)

Label values are bounded on purpose: a mode (subscribe, unsubscribe, invalid), a result (accepted,
throttled, full, refused) and topics (feeds x formats, from the feeds file). Never a subscriber,
callback or client address: a hub may have thousands, and anyone can make up new ones.
The verification outcomes are counted where they are decided (delivery/hub.py).
"""

from __future__ import annotations

from syndication.delivery import subscriptions
from syndication.infra import metrics
from syndication.infra.context import Context

MODES = (subscriptions.SUBSCRIBE, subscriptions.UNSUBSCRIBE, "invalid")
RESULTS = ("accepted", "throttled", "full", "refused")
VERIFICATIONS = ("subscribed", "unsubscribed", "denied")
_RESULT_OF = {"too_many_requests": "throttled", "hub_full": "full", "host_full": "full"}


def result_of(error: str | None) -> str:
    """A refusal's error code (websub/requests.py) as a bounded result label."""
    return "accepted" if error is None else _RESULT_OF.get(error, "refused")


def request(ctx: Context, form: dict[str, str], error: str | None = None) -> None:
    mode = form.get("hub.mode", "")
    metrics.inc(ctx.redis, ctx.keys, "websub_requests", mode=mode if mode in MODES else "invalid",
                result=result_of(error))


def distributed(ctx: Context, feed: str, created: dict[str, int]) -> None:
    """One distribution per format whose change made content deliveries, and how many it made."""
    pipe = ctx.redis.pipeline(transaction=False)
    for fmt, n in created.items():
        if n:
            metrics.inc(pipe, ctx.keys, "websub_distributions", feed=feed, format=fmt)
            metrics.inc(pipe, ctx.keys, "websub_content_deliveries", n, feed=feed, format=fmt)
    pipe.execute()
