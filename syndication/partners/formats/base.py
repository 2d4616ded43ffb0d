"""What every push format has: a media type and a render of one article version.

A format gets a `Push`: the delivery (id, version, event type) and the
article as stored (clean data, withdrawn flag, reason). It returns bytes.
Adding a format is one module with one subclass, registered in PUSH_FORMATS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Push:
    delivery_id: str
    event_id: str
    event_type: str
    article_id: str
    version: int
    article: dict[str, Any] | None  # last published data (None if never published)
    withdrawn: bool
    reason: str = ""
    occurred_at: str | None = None  # when the event behind this delivery happened (ISO 8601)


class Format:
    name = "base"
    media_type = "application/octet-stream"

    def render(self, push: Push, *, base_url: str) -> bytes:
        raise NotImplementedError
