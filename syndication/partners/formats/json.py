"""`json`: our own event JSON, as the publisher sent it (cleaned), plus the delivery id."""

from __future__ import annotations

import json

from .base import Format, Push


class JsonFormat(Format):
    name = "json"
    media_type = "application/json"

    def render(self, push: Push, *, base_url: str) -> bytes:
        if push.withdrawn or push.event_type == "article.withdrawn":
            article = {"id": push.article_id, "version": push.version, "reason": push.reason}
        else:
            article = {**(push.article or {}), "version": push.version}
        doc = {
            "delivery_id": push.delivery_id,
            "event_id": push.event_id,
            "type": push.event_type,
            "article": article,
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
