"""Content distribution of our own WebSub hub: a feed's new bytes to every active subscriber of its topic.

    target_ids = create(ctx, name, changed_formats, etags)   # pipeline/steps.py, after a render

Called once per render that changed a format's bytes (so a burst of events is one distribution,
as renders coalesce), it creates one content delivery per active subscriber (lease not ended)
of each changed topic, keyed by the feed's ETag: created twice, it is one delivery. What is sent
is read at send time (delivery/hub.py): the feed's current stored bytes, and a delivery whose
ETag is no longer current is superseded, so a subscriber that lags gets the newest version, not a
backlog. Ids only here; no bytes are copied per subscriber.
"""

from __future__ import annotations

import time

from syndication.delivery import records, subscriptions, targets
from syndication.delivery.model import CONTENT_EVENT, HUB_CONTENT, Subject
from syndication.identity import feed_url
from syndication.infra.context import Context
from syndication.websub import counting


def create(ctx: Context, name: str, formats, etags: dict[str, str], now: float | None = None) -> list[str]:
    """One content delivery per active subscriber of each changed format; returns the subscriber
    targets that got a new one (to mark ready)."""
    settings = ctx.settings
    spec = settings.feed(name)
    if not settings.websub_own_hub or not formats or spec is None or spec.access != "public":
        return []
    now = now or time.time()
    wanted = [(fmt, sid) for fmt in formats for sid in subscriptions.active_ids(ctx, name, fmt, now)]
    if not wanted:
        return []
    pipe = ctx.redis.pipeline(transaction=False)
    targets.queue_busy(pipe, ctx.keys, sorted({sid for _, sid in wanted}), now)
    for fmt, sid in wanted:
        etag = etags.get(fmt, "")
        records.queue_create(ctx, pipe, sid, Subject(HUB_CONTENT, feed_url(settings.base_url, name, fmt)),
                             event_id=etag, event_type=CONTENT_EVENT, now=now, version_key=etag)
    created = pipe.execute()[-len(wanted):]
    counting.distributed(ctx, name, {fmt: sum(1 for (f, _), new in zip(wanted, created) if new and f == fmt)
                                     for fmt in formats})
    return sorted({sid for (_, sid), new in zip(wanted, created) if new})
