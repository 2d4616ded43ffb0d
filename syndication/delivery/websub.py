"""WebSub publishing: tell the hub a feed changed, so subscribers fetch it at once.

After a render changes a feed's bytes, one ping per changed format URL is
created as a delivery to the hub (the system target `websub-hub`, built by
configuration.py: a target, not a partner), so it gets the same durable
retries, attempt history and circuit breaker as partner pushes. The ping is the WebSub publisher convention the public hubs accept:

    POST <hub>  Content-Type: application/x-www-form-urlencoded
    hub.mode=publish&hub.url=<feed url>
"""

from __future__ import annotations

from urllib.parse import urlencode

from syndication.identity import feed_url
from syndication.infra.context import Context
from syndication.delivery import records
from syndication.delivery.model import WEBSUB, WEBSUB_EVENT, Subject
from syndication.partners.target import WEBSUB_HUB


def create_pings(ctx: Context, name: str, formats: tuple[str, ...], etags: dict[str, str]) -> list[str]:
    """One hub ping per changed format; returns the target ids to kick (the hub) if any were new."""
    if ctx.settings.websub_target is None or not formats:
        return []
    created = [
        records.create(ctx, WEBSUB_HUB, Subject(WEBSUB, feed_url(ctx.settings.base_url, name, fmt)),
                       event_id=etags.get(fmt, ""), event_type=WEBSUB_EVENT, version_key=etags.get(fmt, ""))
        for fmt in formats
    ]
    return [WEBSUB_HUB] if any(created) else []


def ping(topic_url: str) -> tuple[bytes, dict[str, str]]:
    body = urlencode({"hub.mode": "publish", "hub.url": topic_url}).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded"}
