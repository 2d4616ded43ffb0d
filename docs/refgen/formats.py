"""reference/push-formats.md: every push format in PUSH_FORMATS, with a sample rendered by it.

The sample is the first example event (examples/events/), applied the way the service applies
it and rendered by the format's own code: what a partner with that `format` receives.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from refgen.markdown import banner, code, table

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "events" / "01-published-astana-lrt.json"
PARTNER, BASE_URL = "agency-example", "https://syndication.example"


def sample_push():
    from syndication.delivery.records import delivery_id
    from syndication.events import parse_event
    from syndication.partners.formats import Push
    from syndication.text import clean_article

    event = parse_event(SAMPLE.read_bytes())
    return Push(delivery_id=delivery_id(event.article.id, event.article.version, PARTNER), event_id=event.event_id,
                event_type=event.type, article_id=event.article.id, version=event.article.version,
                article=clean_article(json.loads(event.model_dump_json())["article"]), withdrawn=False,
                occurred_at=event.occurred_at.isoformat())


def _shown(body: bytes, media_type: str) -> tuple[str, str]:
    """The body as a reader wants it: JSON indented (the wire has no whitespace), XML as sent."""
    if "json" in media_type:
        return "json", json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    return "xml", body.decode("utf-8")


def _summary(fmt) -> str:
    """What the format's module says of it: its first paragraph, which opens with the format's name;
    for a second format in one module, the sentence of the docstring that names it."""
    raw = sys.modules[type(fmt).__module__].__doc__ or ""
    doc, first = " ".join(raw.split()), " ".join(raw.strip().split("\n\n")[0].split())
    if first.startswith(f"`{fmt.name}`"):
        return first
    at = doc.find(f"`{fmt.name}`")
    if at < 0:
        return first
    end = min((i for i in (doc.find(": ", at), doc.find(". ", at)) if i > 0), default=len(doc))
    return doc[at:end] + "."


def page() -> str:
    from syndication.partners.formats import PUSH_FORMATS

    push = sample_push()
    out = ["# Push formats", "", banner("formats", "`PUSH_FORMATS` in `syndication/partners/formats/`"),
           "A partner's `format` in the partners file picks one of these. Every push of every format "
           "carries the same Standard Webhooks headers (`webhook-id`: the delivery id, the same on every "
           "attempt; `webhook-timestamp`; `webhook-signature`) and names the article by the same `tag:` URI. "
           f"Each sample below is the push of `{SAMPLE.relative_to(ROOT)}` to a partner `{PARTNER}`, "
           f"rendered by the format's own code with base URL `{BASE_URL}`; how each marks a withdrawal is "
           "in [withdrawals](../withdrawals.md).", "",
           table(["Format", "Media type", "What it is"],
                 [[code(name), code(f.media_type), _summary(f)] for name, f in PUSH_FORMATS.items()])]
    for name, fmt in PUSH_FORMATS.items():
        language, text = _shown(fmt.render(push, base_url=BASE_URL), fmt.media_type)
        fence = "`" * max(3, max((len(run) for run in text.split() if set(run) == {"`"}), default=0) + 1)
        out += [f"## {name}", "", f"`Content-Type: {fmt.media_type}`", "", _summary(fmt), "",
                f"{fence}{language}", text, fence, ""]
    return "\n".join(out)
