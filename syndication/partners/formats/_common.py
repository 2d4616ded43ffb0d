"""What the partner formats share: the article's identity and publisher, its dates, the withdrawal test.

Pure helpers, no clock: a push renders from the `Push` alone, so the same
push is always the same bytes (partners' signatures and dedup rely on it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from syndication.feeds.entries import publisher  # noqa: F401 (the feeds' rule: one entry, one author)
from syndication.identity import article_uri  # noqa: F401 (the formats' shared identity)
from syndication.text import plain_text
from syndication.partners.formats.base import Push

# Only used when there is no data at all (a withdrawal of an article never published).
NO_DATE = "1970-01-01T00:00:00+00:00"


def is_withdrawal(push: Push) -> bool:
    return push.withdrawn or push.event_type == "article.withdrawn"


def require_article(push: Push) -> dict[str, Any]:
    """The article data of a non-withdrawal push (there is nothing to render without it)."""
    if push.article is None:
        raise ValueError(f"push {push.delivery_id}: no article data for {push.article_id} v{push.version}")
    return push.article


def rfc3339(value: str | None) -> str | None:
    """One spelling for the stored ISO times (e.g. `Z` becomes `+00:00`)."""
    return datetime.fromisoformat(value).isoformat() if value else None


def published(article: dict[str, Any]) -> str:
    return rfc3339(article.get("published_at")) or NO_DATE


def updated(article: dict[str, Any]) -> str:
    """When this version was made: updated_at, else published_at (as the feeds do)."""
    return rfc3339(article.get("updated_at")) or published(article)


def embargoed(article: dict[str, Any] | None) -> str | None:
    """The embargo instant (`article.embargoed`), spelled like the other dates; None without one.

    Every format carries it whenever the stored version has one, in the past or not: a render
    has no clock (see above), and a time already past says "released" as plainly."""
    value = (article or {}).get("embargoed")
    return datetime.fromisoformat(value.upper()).isoformat() if value else None


def withdrawn_at(push: Push, article: dict[str, Any] | None) -> str:
    """When the withdrawal happened: the event's time, else the last version's time."""
    return rfc3339(push.occurred_at) or (updated(article) if article else NO_DATE)


def description(article: dict[str, Any]) -> str:
    """The summary, else the start of the body as plain text (the feeds' rule)."""
    return article.get("summary") or plain_text(article.get("body_html") or "", limit=500)


def reason(push: Push) -> str:
    # Stored as sent by older versions of the service: make it plain text here too.
    return plain_text(push.reason or "")


def correction(article: dict[str, Any] | None) -> str | None:
    """The correction note ("" when it has none) when this version corrects an earlier one, else None.

    `article.correction` is `{"note": ...}` (events.py); anything else stored there is no correction."""
    value = (article or {}).get("correction")
    if not isinstance(value, dict):
        return None
    note = value.get("note")
    return plain_text(note) if isinstance(note, str) else ""
