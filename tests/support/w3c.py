"""The W3C feed validator (vendored in tests/vendor/feedvalidator/) as one function: bytes in, problems out.

`validate(body, content_type=..., base=...)` returns the validator's errors and warnings as
readable lines ("line 3, column 5: <message> [ClassName]"). Errors are what the W3C service
shows as "This feed does not validate"; our feeds must have none. Warnings ("recommendations")
are returned separately, for a test to print, not to fail on.

The validator is imported on first use, not at collection: its package sets the process-wide
default socket timeout when imported, which this module puts back at once (the other tests'
sockets must keep their own timeouts).
"""

from __future__ import annotations

import io
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

VENDORED = Path(__file__).resolve().parent.parent / "vendor" / "feedvalidator"
_lock = threading.Lock()
_modules: dict = {}


@dataclass
class Report:
    feed_type: str  # what the validator took the document for: rss | atom | atom entry | rss1 | unknown
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _load() -> dict:
    with _lock:
        if not _modules:
            before = socket.getdefaulttimeout()
            if str(VENDORED) not in sys.path:
                sys.path.insert(0, str(VENDORED))
            try:
                import feedvalidator
                import feedvalidator.validators  # noqa: F401 (registers the element validators)
                from feedvalidator import logging as events
                from feedvalidator.formatter.text_plain import Formatter
            finally:
                socket.setdefaulttimeout(before)
            _modules.update(feedvalidator=feedvalidator, events=events, Formatter=Formatter)
        return _modules



def validate(body: bytes, *, content_type: str | None = None, base: str = "") -> Report:
    """Validate one RSS or Atom document as the W3C service does (its media type checked too
    when `content_type` is given; `base` is the URL it was fetched from, for rel="self")."""
    m = _load()
    fv, events = m["feedvalidator"], m["events"]
    if content_type:
        result = fv.validateStream(io.BytesIO(body), firstOccurrenceOnly=0, contentType=content_type, base=base)
    else:
        result = fv.validateString(body, firstOccurrenceOnly=0, fallback="utf-8", base=base)
    formatter = m["Formatter"](result["loggedEvents"])
    kinds = {events.TYPE_RSS1: "rss1", events.TYPE_RSS2: "rss", events.TYPE_ATOM: "atom",
             events.TYPE_ATOM_ENTRY: "atom entry"}
    report = Report(feed_type=kinds.get(result.get("feedType"), "unknown"))
    for event, line in zip(result["loggedEvents"], formatter):
        text = f"{line} [{type(event).__name__}]"
        if isinstance(event, events.Error):
            report.errors.append(text)
        elif isinstance(event, events.Warning):
            report.warnings.append(text)
    return report
