"""The metric series a configuration can have, so each is in the first scrape at 0.

`increase()` and alert rules need a series to exist before its first increment, or the
first dead letter of a partner is invisible to `increase(...[15m]) > 0`. The collector
(infra/metrics.py) is mechanism and knows no event type or partner: the API hands it
`known_series`, asked again for each settings snapshot a reload publishes.
"""

from __future__ import annotations

from syndication.events import EVENT_TYPES
from syndication.feeds.spec import FEED_FORMATS
from syndication.websub import counting

# The label values each counter can take (besides partners and feeds, which come from the settings).
DELIVERY_RESULTS = ("delivered", "retry", "dead", "parked")  # decide.Decision.result
# The API's reasons for refusing an event (api/app.py: 401, 413, 415 by name; 422 as "invalid").
REJECT_REASONS = ("unauthorized", "body_too_large", "unsupported_media_type", "invalid")
APPLY_OUTCOMES = ("applied", "replay", "stale")
APPLY_FAILURES = ("retry", "dead")
SWEEP_OUTCOMES = ("ran", "skipped")


def known_series(settings) -> dict[str, list[dict[str, str]]]:
    """metric -> every label set this configuration can produce: shown at 0 before the first increment."""
    partners = [p.id for p in settings.targets]
    feeds = [f.name for f in settings.feeds]
    news = [f"news/{f.name}" for f in settings.feeds if f.news_sitemap]  # sitemap_store.set_name
    sitemaps = (["news"] if news else []) + news
    hub_feeds = [f.name for f in settings.feeds if f.access == "public"]  # the hub's topics (websub/requests.py)
    return {
        "events_accepted": [{"type": t} for t in EVENT_TYPES],
        "events_rejected": [{"reason": r} for r in REJECT_REASONS],
        "events_applied": [{"outcome": o} for o in APPLY_OUTCOMES],
        "events_failed": [{"outcome": o} for o in APPLY_FAILURES],
        "delivery_attempts": [{"partner": p, "outcome": o} for p in partners for o in DELIVERY_RESULTS],
        "retries_scheduled": [{"partner": p} for p in partners],
        "partner_throttled": [{"partner": p} for p in partners],
        "dead_letters": [{"partner": p} for p in partners],
        "feed_renders": [{"feed": f} for f in feeds],
        "feed_items_skipped": [{"feed": f} for f in feeds],
        "sweeps": [{"outcome": o} for o in SWEEP_OUTCOMES],
        "sitemap_builds": [{"sitemap": s} for s in sitemaps],
        "websub_requests": [{"mode": m, "result": r} for m in counting.MODES for r in counting.RESULTS],
        "websub_verifications": [{"outcome": o} for o in counting.VERIFICATIONS],
        "websub_distributions": [{"feed": f, "format": x} for f in hub_feeds for x in FEED_FORMATS],
        "websub_content_deliveries": [{"feed": f, "format": x} for f in hub_feeds for x in FEED_FORMATS],
        "delivery_latency_seconds": [{"partner": p} for p in partners],
        "feed_render_seconds": [{"feed": f} for f in feeds],
    }
