"""The article event schema as published: `syndication schema` and the OpenAPI document.

events.py validates; this module says the same thing to clients, as JSON Schema with the URL and
date patterns a generated client (or Schemathesis) can check. The patterns err on the strict side
where a regular expression cannot say a rule exactly.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from syndication import events

_URL_FIELDS = {"url"}
_DATE_FIELDS = {"occurred_at", "published_at", "updated_at", "embargoed"}
# What the validators above accept, as patterns a generated client (or Schemathesis) can see.
# Both err on the strict side where a pattern can't say it exactly: URLs with an IPv6 literal
# host or a port over 9999, and dates in 1900 or in the last year before the ten-year limit, are
# accepted but not promised.
_HOST = r"[A-Za-z0-9._~!$&'()*+,;=%-]"
URL_PATTERN = (r"^[Hh][Tt][Tt][Pp][Ss]?://"
               rf"(?:{_HOST}*(?::{_HOST}*)?@)?{_HOST}+(?::[0-9]{{1,4}})?"
               r"(?:[/?#][^\x00-\x20\x7f\\<>\"]*)?$")


def date_pattern(now: datetime | None = None) -> str:
    """RFC 3339 with a zone, years 1901 to the year before the limit (events.FUTURE_YEARS from now)."""
    last = (now or datetime.now(timezone.utc)).year + events.FUTURE_YEARS - 1
    assert 2000 <= last <= 2099, last  # the year part below is written for this century
    tens, units = divmod(last % 100, 10)
    recent = f"[0-{tens - 1}][0-9]|{tens}[0-{units}]" if tens else f"0[0-{units}]"
    return (rf"^(?:19(?:0[1-9]|[1-9][0-9])|20(?:{recent}))-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt]"
            r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
            r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$")


def tighten(node: Any, dates: str, name: str | None = None) -> None:
    """Add the URL and date patterns to the event schema's url and date-time fields, in place."""
    if isinstance(node, dict):
        if node.get("type") == "string" and name in _URL_FIELDS:
            node["pattern"] = URL_PATTERN
            node["description"] = "An http(s) URL with a host: no spaces, control characters, quotes, " \
                                  "angle brackets or backslashes"
        if node.get("format") == "date-time" and name in _DATE_FIELDS:
            node["pattern"] = dates
            node["description"] = (f"RFC 3339 date-time with a zone, between 1900-01-01 and "
                                    f"{events.FUTURE_YEARS} years from now (UTC)")
        for key, value in node.items():
            if key == "properties":
                for prop, sub in value.items():
                    tighten(sub, dates, prop)
            else:
                tighten(value, dates, name if key in ("anyOf", "oneOf", "allOf") else None)
    elif isinstance(node, list):
        for item in node:
            tighten(item, dates, name)


def json_schema() -> dict[str, Any]:
    """The event schema as `syndication schema` prints it (JSON Schema 2020-12)."""
    schema = events.event_adapter.json_schema()
    tighten(schema, date_pattern())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "syndication article event"
    return schema
