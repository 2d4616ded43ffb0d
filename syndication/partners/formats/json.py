"""`json`: our own event JSON, as the publisher sent it (cleaned), plus the delivery id.

A withdrawal's reason is plain text here as in every other format (`_common.reason`): it is
stored as sent, and a partner may show it as HTML.
"""

from __future__ import annotations

import json

from syndication.partners.formats import _common as c
from syndication.partners.formats.base import Format, Push


class JsonFormat(Format):
    name = "json"
    media_type = "application/json"

    def render(self, push: Push, *, base_url: str) -> bytes:
        if c.is_withdrawal(push):
            article = {"id": push.article_id, "version": push.version, "reason": c.reason(push)}
        else:
            article = {**(push.article or {}), "version": push.version}
        doc = {
            "delivery_id": push.delivery_id,
            "event_id": push.event_id,
            "type": push.event_type,
            "article": article,
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
