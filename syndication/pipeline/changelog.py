"""The change log: every article version, in the order it became current (what the pull API serves).

One Redis Stream (`keys.changelog`). The article compare-and-set (articles.py)
appends an entry in the same Lua script that makes a version current, and
only when it does ('applied'; a replay or a stale version writes nothing).
So the log holds every version exactly once, in apply order, whatever
crashes and redeliveries happen, and a reader that remembers the last entry
id it saw (its cursor) misses nothing and sees nothing twice.

An entry's fields:

    id, version     the article and the version that became current
    type            published | updated | withdrawn
    event_id        the event behind it; occurred_at: when the publisher says it happened
    at              apply time (unix seconds, the caller's clock)
    data            the cleaned article JSON as applied; for a withdrawal the last published
                    data it takes back (what partner formats render a tombstone from and what
                    filters match on), with `reason`

Entries older than `settings.changelog_retention` are trimmed as new ones
arrive (articles.LOG_APPEND_LUA, shared by the compare-and-set and `append`),
which also keeps the id of the newest entry ever trimmed
(`keys.changelog_trimmed`). A cursor has lost entries exactly when it is
below that id: a reader that merely predates the oldest entry kept (nothing
after it was ever removed) is not told to start over. Redis's own
`max-deleted-entry-id` would say the same, but it counts XDEL only, not trims.

    changelog.append(pipe, keys, article_id=..., version=..., kind="published", ...)  # a delayed entry
    changelog.cursor("1764000000000-0") -> opaque text; changelog.position(text) -> stream id
    changelog.parse(stream_entries) -> [Entry]; changelog.lost(position, trimmed_id) -> bool
    changelog.beyond(position, last_generated_id) -> bool   # a cursor past every entry ever written
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from syndication.articles import LOG_APPEND_LUA

START = "0-0"  # before every entry: `after` omitted reads from the oldest one kept
# ASCII digits only (`\d` takes any Unicode digit), the whole text (`$` would let a final newline
# through); each part must also fit the 64 bits Redis gives it (checked in `position`).
_STREAM_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_PART = 2**64 - 1


@dataclass(frozen=True)
class Entry:
    stream_id: str
    article_id: str
    version: int
    kind: str  # published | updated | withdrawn
    event_id: str
    at: float
    data: dict[str, Any] | None
    reason: str
    occurred_at: str

    @property
    def withdrawn(self) -> bool:
        return self.kind == "withdrawn"


def _s(value) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def parse(raw: list) -> list[Entry]:
    """Entries from an XRANGE / XREAD answer (`[(id, {field: value})...]`, bytes or text)."""
    out = []
    for stream_id, fields in raw:
        f = {_s(k): _s(v) for k, v in fields.items()}
        out.append(Entry(stream_id=_s(stream_id), article_id=f["id"], version=int(f["version"]), kind=f["type"],
                         event_id=f.get("event_id", ""), at=float(f.get("at") or 0),
                         data=json.loads(f["data"]) if f.get("data") else None, reason=f.get("reason", ""),
                         occurred_at=f.get("occurred_at", "")))
    return out


def append(client, keys, *, article_id: str, version: int, kind: str, event_id: str, data: dict | None,
           reason: str = "", occurred_at: str = "", now: float, retention: float):
    """Append a version that became current earlier without an entry (`log=False` in the
    compare-and-set: an embargoed version, at its release). `client` may be a pipeline, so the
    entry can join the transaction that releases it. Trims by `retention` (seconds) like the
    compare-and-set. Returns the entry id (or the pipeline, queued)."""
    fields = ["id", article_id, "version", version, "type", kind, "event_id", event_id, "at", now,
              "data", json.dumps(data, ensure_ascii=False, separators=(",", ":")) if data else "",
              "reason", reason, "occurred_at", occurred_at or ""]
    return client.eval(_APPEND, 2, keys.changelog, keys.changelog_trimmed, int(retention * 1000), *fields)


_APPEND = LOG_APPEND_LUA + """
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
return log_append(KEYS[1], KEYS[2], ARGV[1], fields)
"""


def cursor(stream_id: str) -> str:
    """The opaque cursor of a position in the log (clients must not build or compare them)."""
    return base64.urlsafe_b64encode(stream_id.encode()).decode().rstrip("=")


def position(text: str) -> str:
    """The stream id a cursor stands for; ValueError if `text` is no cursor of ours.

    Only what `cursor` produces passes: URL-safe base64 without padding (a padded copy is
    accepted) of `ms-seq`, both ASCII decimal without leading zeros and at most 2^64-1, so
    whatever passes is a stream id Redis accepts as a command argument."""
    bare = text.rstrip("=") if isinstance(text, str) else ""
    if not _CURSOR.fullmatch(bare):
        raise ValueError("is not a cursor this service gave out")
    try:
        raw = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("is not a cursor this service gave out") from None
    found = _STREAM_ID.fullmatch(raw)
    if found is None or cursor(raw) != bare or any(int(part) > _MAX_PART for part in found.groups()) \
            or any(len(part) > 1 and part.startswith("0") for part in found.groups()):
        raise ValueError("is not a cursor this service gave out")
    return raw


def beyond(position: str, last_id: str | bytes | None) -> bool:
    """True when `position` lies after `last_id`, the newest id the log ever generated (XINFO
    STREAM's last-generated-id; None or "0-0" for a log never written): no entry was ever there."""
    return _key(position) > _key(_s(last_id) or START)


def _key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def lost(after: str, trimmed: str | bytes | None) -> bool:
    """True when entries after position `after` were trimmed away (`trimmed`: the id in
    `keys.changelog_trimmed`, None if nothing ever was)."""
    return trimmed is not None and _key(after) < _key(_s(trimmed))
