"""Building article events for tests, in the shape of examples/events/."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "events"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def article_event(article_id: str, version: int = 1, *, event_id: str | None = None,
                  type: str | None = None, published_at: datetime | None = None, **article) -> dict:
    """A published/updated event for `article_id`, newest-in-feed by default (published now)."""
    ev = copy.deepcopy(example("01-published-astana-lrt.json"))
    when = published_at or datetime.now(timezone.utc).replace(microsecond=0)
    ev["event_id"] = event_id or f"evt-{article_id}-v{version}"
    ev["type"] = type or ("article.published" if version == 1 else "article.updated")
    ev["occurred_at"] = (when + timedelta(seconds=version)).isoformat()
    a = ev["article"]
    a.update(id=article_id, version=version, url=f"https://news.example/en/{article_id}",
             headline=f"Headline {article_id} v{version}", summary=f"Summary {article_id} v{version}",
             published_at=when.isoformat(), updated_at=(when + timedelta(seconds=version)).isoformat())
    a.update(article)
    return ev


def withdrawal(article_id: str, version: int, *, event_id: str | None = None) -> dict:
    return {
        "event_id": event_id or f"evt-{article_id}-withdrawn-v{version}",
        "type": "article.withdrawn",
        "occurred_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "article": {"id": article_id, "version": version, "reason": "test withdrawal"},
    }


def sentinel(**article) -> dict:
    """A fresh article posted *after* the change a test checks for, to prove time has passed.

    "Nothing happened" is only worth asserting once the thing would have happened by then: when a
    sentinel posted later has gone the same way (rendered into the feed, pushed to a partner), the
    earlier change went that way first, so its absence is a finding, not a race. Published now, it
    is the newest item of every feed it matches; its id contains no other test's article id.
    """
    return article_event(f"sentinel-{uuid.uuid4().hex[:12]}", **article)


def post_all(base_url: str, events: list[dict], key: str) -> None:
    """POST each event to a running API with a publisher key; every one must be accepted (202)."""
    import requests

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for ev in events:
        resp = requests.post(f"{base_url}/v1/events", data=json.dumps(ev), headers=headers, timeout=10)
        assert resp.status_code == 202, resp.text
