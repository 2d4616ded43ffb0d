"""What the push benchmark sends and configures: events, partners and feeds files, the webhook secret.

Everything here is a pure function of its arguments (apart from new_secret), so two runs post the
same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from datetime import datetime
from pathlib import Path

from benchmarks.harness import BenchError
from benchmarks.harness.articles import article_body, event_body, make_article
from benchmarks.harness.partner import Partner

BODY_TARGET = 3400  # bytes of article HTML: the json push body is then ~4.5 kB
CATEGORY = "Economy"
SECRET_ENV = "BENCH_WEBHOOK_SECRET"  # the partners' standard-webhooks secret, for the pushing processes only
# The benchmark's own feeds: every event lands in all three (no feed filters on anything else).
FEEDS = [{"name": "all", "title": "All news", "language": "en", "filters": {}},
         {"name": "economy", "title": "Economy", "language": "en", "filters": {"categories": [CATEGORY]}},
         {"name": "en", "title": "News in English", "language": "en", "filters": {"languages": ["en"]}}]


def partner_ids(n: int) -> list[str]:
    return [f"p{i:03d}" for i in range(n)]


def write_partners_file(path: Path, n: int, partner: Partner, hanging: set[str] = frozenset()) -> None:
    """n partners, all `format: json`, signed with standard-webhooks; those in `hanging` never answer."""
    import yaml

    entries = [{"id": pid, "url": partner.url(pid, hanging=pid in hanging), "format": "json",
                "auth": {"type": "standard-webhooks", "secret_env": SECRET_ENV}, "allow_private_network": True}
               for pid in partner_ids(n)]
    path.write_text(yaml.safe_dump({"partners": entries}, sort_keys=False))


def write_feeds_file(path: Path) -> None:
    import yaml

    path.write_text(yaml.safe_dump({"feeds": [{**f, "max_items": 50} for f in FEEDS]}, sort_keys=False))


def make_event(run: str, i: int, published: datetime) -> tuple[str, str, bytes]:
    """(article id, article URL, body of POST /v1/events) of one new article, unique per run."""
    art = make_article(i, CATEGORY, published)
    art["id"] = f"{run}-{i:05d}"
    art["url"] = f"https://news.example/en/economy/{art['id']}"
    art["body_html"] = article_body(i, target=BODY_TARGET)
    return art["id"], art["url"], event_body(art, f"evt-{art['id']}-v1")


def new_secret() -> str:
    """A random Standard Webhooks secret for this run (never printed)."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks v1 signature, computed here from the spec (not with the service's code)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def check_signed(partner: Partner, stats: dict, secret: str, what: str) -> None:
    """Every push of `what` carried a signature, and the first one verifies against the run's secret."""
    if stats["signed"] != stats["total"]:
        raise BenchError(f"{what}: {stats['total'] - stats['signed']} of {stats['total']} pushes were not signed")
    sample = partner.sample()
    if sample is None:
        raise BenchError(f"{what}: the partner kept no signed push to verify")
    want = signature(secret, sample["id"], sample["timestamp"], sample["body"])
    if want not in sample["signature"].split():
        raise BenchError(f"{what}: the signature of push {sample['id']} does not verify against the run's secret")


def push_body_like_the_service(event: bytes) -> bytes:
    """The json-format push body the deliveries worker sends for this event (for the ceiling loop)."""
    from syndication.partners.formats import PUSH_FORMATS, Push
    from syndication.text import clean_article

    ev = json.loads(event)
    art = ev["article"]
    # An id of the service's shape (msg_ + 26 hex digits): only its length matters here.
    push = Push(delivery_id="msg_" + "0" * 26, event_id=ev["event_id"], event_type=ev["type"],
                article_id=art["id"], version=1, article=clean_article(art), withdrawn=False)
    return PUSH_FORMATS["json"].render(push, base_url="http://127.0.0.1")
