"""The sample NewsML-G2 pushes in this folder, made by the service's own code from the events beside them.

    .venv/bin/python examples/newsml-g2/make.py     # rewrites the .xml files

The events are one article's life (published, updated, withdrawn), as a publishing system would
post them. Each is applied the way the service applies it (validated, cleaned, the withdrawal
shown with the last version's data) and rendered as the push a `format: newsml-g2` partner with
the id below would receive: the .xml files are those request bodies, byte for byte.
tests/unit/test_newsml_g2_example.py checks they are still what the code makes.
"""

from __future__ import annotations

import json
from pathlib import Path

from syndication.delivery.records import delivery_id
from syndication.events import parse_event
from syndication.partners.formats import PUSH_FORMATS, Push
from syndication.text import clean_article

HERE = Path(__file__).resolve().parent
PARTNER = "agency-example"
BASE_URL = "https://syndication.example"


def pushes() -> dict[str, bytes]:
    """{file name: push body} for every event in this folder, applied in order."""
    out: dict[str, bytes] = {}
    last: dict | None = None
    for path in sorted(HERE.glob("*.json")):
        event = parse_event(path.read_bytes())
        withdrawn = event.type == "article.withdrawn"
        if not withdrawn:
            last = clean_article(json.loads(event.model_dump_json())["article"])
        push = Push(delivery_id=delivery_id(event.article.id, event.article.version, PARTNER),
                    event_id=event.event_id, event_type=event.type, article_id=event.article.id,
                    version=event.article.version, article=last, withdrawn=withdrawn,
                    reason=getattr(event.article, "reason", ""), occurred_at=event.occurred_at.isoformat())
        out[path.with_suffix(".xml").name] = PUSH_FORMATS["newsml-g2"].render(push, base_url=BASE_URL)
    return out


if __name__ == "__main__":
    for name, body in pushes().items():
        (HERE / name).write_bytes(body)
        print(f"wrote {HERE / name} ({len(body)} bytes)")
