"""A test push: a signed sample article in a partner's own format, sent to its target now.

    result = sample_push.send(ctx, "kazinform")     # what was sent, and what the partner answered

The sample is rendered, signed and sent by the code every delivery uses (the format's render,
signing.auth_headers, http.send), so a partner that verifies it verifies real pushes too. It
is no delivery: no record, no retry, no circuit or metrics change, and its `webhook-id` is new
each time (`msg_test_` and random hex), so a partner's dedupe never swallows it. The last
result is kept a day per partner (portal:test_push:{partner}), with the exact request headers
and body, so the partner can reproduce its signature check; credentials we send in an
Authorization header (bearer, basic) are shown masked, never echoed.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timezone
from typing import Any

from syndication.delivery import http
from syndication.events import parse_event
from syndication.partners.formats import PUSH_FORMATS, Push
from syndication.partners.signing import auth_headers, shown_headers

KEEP = 86400  # seconds the last result is shown
SAMPLE_ARTICLE_ID = "syndication-test-push"


def sample_article(now: float) -> dict[str, Any]:
    """A valid article (checked by the event schema, as a publisher's would be), marked as a test."""
    when = datetime.fromtimestamp(int(now), timezone.utc).isoformat()
    event = parse_event({
        "event_id": "test-push", "type": "article.published", "occurred_at": when,
        "article": {"id": SAMPLE_ARTICLE_ID, "version": 1, "url": "https://example.com/syndication-test-push",
                    "language": "en", "headline": "Test push from syndication",
                    "summary": "A sample article sent from the partner portal to check your endpoint.",
                    "body_html": "<p>This is a test push. You can ignore it.</p>",
                    "categories": ["Test"], "published_at": when, "updated_at": when}})
    return json.loads(event.model_dump_json())["article"]


def send(ctx, partner_id: str, now: float | None = None) -> dict[str, Any] | None:
    """Render, sign and send the sample to the partner's target; None if it takes no pushes."""
    partner, target = ctx.settings.partner(partner_id), ctx.settings.target(partner_id)
    if partner is None or target is None:
        return None
    now = now or time.time()
    fmt = PUSH_FORMATS[partner.format]
    msg_id = f"msg_test_{secrets.token_hex(9)}"
    push = Push(delivery_id=msg_id, event_id=f"test-push-{msg_id}", event_type="article.published",
                article_id=SAMPLE_ARTICLE_ID, version=1, article=sample_article(now), withdrawn=False,
                occurred_at=datetime.fromtimestamp(int(now), timezone.utc).isoformat())
    body = fmt.render(push, base_url=ctx.settings.base_url)
    headers = {"Content-Type": fmt.media_type}
    headers.update(auth_headers(target, ctx.settings.secrets_for(partner_id), msg_id, int(now), body))
    resp = http.send(target, body, headers)
    result = {"at": now, "url": target.url, "format": partner.format, "webhook_id": msg_id,
              "request_headers": shown_headers(headers), "request_body": body.decode("utf-8", "replace"),
              "status": resp.status, "latency_ms": round(resp.latency * 1000, 1), "response": resp.excerpt[:500],
              "error": resp.error, "ok": resp.status is not None and 200 <= resp.status < 300}
    ctx.redis.set(ctx.keys.portal_test_push(partner_id), json.dumps(result), ex=KEEP)
    return result


def last(ctx, partner_id: str) -> dict[str, Any] | None:
    raw = ctx.redis.get(ctx.keys.portal_test_push(partner_id))
    return json.loads(raw) if raw else None
