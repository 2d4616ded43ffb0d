"""Strict readers for what a caller types: counts, seconds and instants.

Every HTTP parameter, JSON field and CLI option that takes a number or a time is read by one of
these (the API through api/params.py, which also matches ids whole; the CLI through
cli/options.py and its commands), so one rule holds everywhere: ASCII digits only; no sign,
spaces, underscores, exponent or trailing newline; always within bounds (counts and seconds
outside them are refused, instants clamped to the window event dates lie in). Python's own
readers are far more generous than any syntax a caller was promised: `int()` and `float()`
take '١٢', ' 12\\n' and '1_000', `float()` also 'nan', 'inf' and '1e999' (a deadline of NaN never passes);
`datetime.fromisoformat` takes '2026-W18-5', '20260501T06' and zone-less times (read in the
*server's* zone, or a ValueError for year 1); and in `re`, `\\d` matches any Unicode digit and
`$` matches before a trailing newline. The patterns here spell `[0-9]` and are applied with
`fullmatch`.

Each reader raises `BadInput` (a ValueError) whose message says what is accepted; the API
answers it with a 422 naming the field, the CLI with one line naming the option and exit 2.

    count("20", low=1, high=10_000)                      -> 20
    seconds("2.5", high=3600)                            -> 2.5
    instant("2h"), instant("2026-05-01T06:00:00Z")       -> unix seconds (float)
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

# Dates a caller may name: the same window an event's dates must lie in (events.py).
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc).timestamp()
FUTURE_YEARS = 10
MAX_TEXT = 64  # no number, duration or time needs more characters

_DIGITS = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")
_AGO = re.compile(r"([0-9]{1,12}(?:\.[0-9]{1,9})?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
                      r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")
_EPOCH = datetime(1970, 1, 1)

# Patterns for documents (OpenAPI, JSON Schema): the same syntax, anchored.
AGO_PATTERN = "^" + _AGO.pattern + "$"

TIME_HELP = "30m, 2h, 1d (ago) or an RFC 3339 time with its zone, e.g. 2026-05-01T06:00:00Z"


class BadInput(ValueError):
    """A caller's value that none of our syntaxes reads; the message says what is accepted."""


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise BadInput(f"must be text, not {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise BadInput(f"is longer than {MAX_TEXT} characters")
    return value


def count(value: object, *, low: int, high: int) -> int:
    """A whole number written in ASCII digits (no sign, spaces or underscores), low..high."""
    text = _text(value)
    if not _DIGITS.fullmatch(text):
        raise BadInput(f"must be a whole number written in ASCII digits 0-9 (got {text!r})")
    n = int(text) if len(text) <= 18 else high + 1  # int() of 10,000 digits takes a while
    if not low <= n <= high:
        raise BadInput(f"must be between {low} and {high} (got {text})")
    return n


def seconds(value: object, *, low: float = 0, high: float) -> float:
    """A number of seconds: ASCII digits with an optional decimal part (no 'nan', 'inf', '1e3'), low..high."""
    text = _text(value)
    if not _DECIMAL.fullmatch(text):
        raise BadInput(f"must be a number of seconds written in ASCII digits, e.g. 20 or 2.5 (got {text!r})")
    n = float(text)
    if not low <= n <= high:
        raise BadInput(f"must be between {low:g} and {high:g} seconds (got {text})")
    return n


def rfc3339(text: str) -> float | None:
    """Unix seconds of an RFC 3339 date-time with its zone; None if `text` is not one in form.

    BadInput for one in form that names no real instant (month 13, hour 24, offset +24:00).
    A leap second (:60) reads as the second before it: datetime has no room for it."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    sign, off_h, off_m = m.group(8, 9, 10)
    try:
        # Year 0000 is RFC 3339 but not datetime; it lies before EARLIEST whatever its day.
        local = datetime(max(year, 1), month, day, hour, minute, min(second, 59))
    except ValueError as exc:
        raise BadInput(f"is not a real date and time: {exc} (got {text!r})") from None
    if sign and (int(off_h) > 23 or int(off_m) > 59):
        raise BadInput(f"has an impossible zone offset {sign}{off_h}:{off_m} (got {text!r})")
    offset = (int(off_h) * 3600 + int(off_m) * 60) * (-1 if sign == "-" else 1) if sign else 0
    fraction = float(m.group(7)) if m.group(7) else 0.0
    # Subtraction of naive datetimes: no local zone involved, no overflow near year 1 or 9999.
    return (local - _EPOCH).total_seconds() + fraction - offset


def instant(value: object, now: float | None = None) -> float:
    """'30m', '2h', '1d' ago, or an RFC 3339 time with its zone -> unix seconds, clamped to
    1900-01-01 .. FUTURE_YEARS from now.

    Clamped, not refused: every date an event carries lies in that window (events.py), so a
    bound outside it selects exactly what its edge does, and RFC 3339 allows years 0000-9999."""
    text = _text(value)
    now = time.time() if now is None else now
    ago = _AGO.fullmatch(text)
    if ago:
        when = now - float(ago.group(1)) * _UNITS[ago.group(2)]
    else:
        when = rfc3339(text)
        if when is None:
            raise BadInput(f"cannot read time {text!r}: use {TIME_HELP}")
    latest = now + timedelta(days=365.25 * FUTURE_YEARS).total_seconds()
    return min(max(when, EARLIEST), latest)

