"""Article state: the newest version of every article, and nothing older.

One Redis hash per article (see infra/keys.py). The compare-and-set runs as a Lua
script, so two workers applying versions 2 and 3 concurrently can never
leave version 2 behind: a version only replaces a strictly lower one.

Re-applying the *same* event (a task redelivered after a crash) is told
apart from a stale one, so its follow-up work (feeds, deliveries) can be
done again safely instead of being lost.

The same script appends the version to the change log (a Redis Stream,
pipeline/changelog.py) when, and only when, it becomes current: one atomic
step, so whatever crashes and redeliveries happen the log has every version
once, in apply order. `log=False` leaves that to a later
`changelog.append` (an embargoed version enters the log at its release).

Beside the current data the hash keeps `released_data`, the newest version released to
everyone (`ArticleState.released_data`). Whatever is shown of a story to someone who was not
sent its current version (public feeds, the change log, hold partners' tombstones, anonymous
reads) comes from it, so a version held by an embargo and then withdrawn leaks nowhere.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syndication.events import embargoed_until

if TYPE_CHECKING:  # the store is handed its key builder by infra.context
    from syndication.infra.keys import Keys

# Appends one change log entry (`fields`: a flat field/value list), first trimming what the
# retention lets go, by Redis's own clock (the one stream ids are made of). The id of the newest
# entry ever trimmed is kept in `trimmed`: a reader's cursor below it has lost entries (410).
LOG_APPEND_LUA = """
local function log_append(stream, trimmed, retention_ms, fields)
  local t = redis.call('TIME')
  local minid = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(retention_ms)
  if minid > 0 then
    minid = string.format('%.0f', minid)
    local last = redis.call('XREVRANGE', stream, '(' .. minid .. '-0', '-', 'COUNT', 1)
    if last[1] then
      redis.call('XTRIM', stream, 'MINID', minid)
      redis.call('SET', trimmed, last[1][1])
    end
  end
  return redis.call('XADD', stream, '*', unpack(fields))
end
"""

# KEYS: 1 article hash, 2 the change log, 3 the change log's trimmed mark (pipeline/changelog.py),
#       4 embargo:due (only read, for a hash written before `released_data` existed).
# ARGV: 1 version, 2 data ('' keeps the old data), 3 withdrawn, 4 event_id, 5 now, 6 reason,
#       7 log now (1/0: 0 for a version an embargo holds), 8 log retention (ms), 9 change type ('' : derived),
#       10 occurred_at, 11 article id
# Returns {outcome, previous_version, previous_data, log_id}; outcome: applied | replay | stale.
# Only 'applied' writes to the log: a replay or a stale version is already there or never will be,
# so the log holds every version exactly once, in the order they became current.
# `released_data` is the newest version released to everyone (applied with no embargo ahead, or
# released by pipeline/embargo.py). A withdrawal's log entry carries it, never the data a held
# version has: the log is what hold partners read. A story never released writes no withdrawal
# entry at all: the readers of the log never heard of it.
_CAS = LOG_APPEND_LUA + """
local cur = redis.call('HGET', KEYS[1], 'version')
if cur then
  local curv = tonumber(cur)
  local newv = tonumber(ARGV[1])
  if curv > newv then return {'stale', cur, '', ''} end
  if curv == newv then
    if redis.call('HGET', KEYS[1], 'event_id') == ARGV[4] then
      return {'replay', cur, redis.call('HGET', KEYS[1], 'data') or '', ''}
    end
    return {'stale', cur, '', ''}
  end
end
local prev = redis.call('HGET', KEYS[1], 'data') or ''
local released = redis.call('HGET', KEYS[1], 'released_data')
if not released then
  -- Stored before the field existed: its data was out unless an embargo still held it back.
  if cur and not redis.call('ZSCORE', KEYS[4], ARGV[11]) then released = prev else released = '' end
  redis.call('HSET', KEYS[1], 'released_data', released)
end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'data', ARGV[2]) end
if ARGV[3] ~= '1' and ARGV[7] == '1' and ARGV[2] ~= '' then
  released = ARGV[2]
  redis.call('HSET', KEYS[1], 'released_data', released)
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'withdrawn', ARGV[3], 'event_id', ARGV[4],
           'updated_at', ARGV[5], 'reason', ARGV[6])
local logged = ''
-- A withdrawal takes back what was released, and of a story never released there is nothing to take back.
local log_now = ARGV[7] == '1' and not (ARGV[3] == '1' and released == '')
if log_now then
  local kind = ARGV[9]
  if kind == '' then
    if ARGV[3] == '1' then kind = 'withdrawn' elseif cur then kind = 'updated' else kind = 'published' end
  end
  local data = ARGV[2]
  if ARGV[3] == '1' then data = released end  -- a withdrawal: the last released data it takes back
  logged = log_append(KEYS[2], KEYS[3], ARGV[8], {'id', ARGV[11], 'version', ARGV[1], 'type', kind,
                      'event_id', ARGV[4], 'at', ARGV[5], 'data', data, 'reason', ARGV[6], 'occurred_at', ARGV[10]})
end
return {'applied', cur or '0', prev, logged}
"""


DEFAULT_LOG_RETENTION = 30 * 86400.0  # seconds; settings.changelog_retention in a running service


@dataclass(frozen=True)
class CasResult:
    outcome: str  # applied | replay | stale
    previous_version: int
    previous: dict[str, Any] | None
    log_id: str = ""  # the change log entry this apply wrote ('' if none)


@dataclass(frozen=True)
class ArticleState:
    id: str
    version: int
    withdrawn: bool
    data: dict[str, Any] | None
    event_id: str
    updated_at: float
    reason: str
    # The newest version released to everyone (hold partners, the change log, public feeds and
    # readers): `data` itself unless an embargo holds the current version back; None when no
    # version was ever released. What may be shown of the story to someone it was not sent to.
    released_data: dict[str, Any] | None = None

    def public_now(self, now: float | None = None) -> bool:
        """May the story be shown to anyone now: it has data, is not withdrawn and no embargo lies ahead
        (feeds place it, a backfill sends it)."""
        if self.data is None or self.withdrawn:
            return False
        until = embargoed_until(self.data)
        return until is None or until <= (time.time() if now is None else now)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "status": "withdrawn" if self.withdrawn else "published",
            "withdrawn_reason": self.reason or None if self.withdrawn else None,
            "last_event_id": self.event_id,
            "article": self.data,
        }


class ArticleStore:
    def __init__(self, redis, keys: Keys, log_retention: float = DEFAULT_LOG_RETENTION):
        self.redis = redis
        self.keys = keys
        self.log_retention = log_retention
        self._cas = redis.register_script(_CAS)

    @classmethod
    def of(cls, ctx) -> "ArticleStore":
        """The article store of a context (infra/context.py): one per context, its script registered once."""
        return ctx.cached(cls, lambda: cls(ctx.redis, ctx.keys, ctx.settings.changelog_retention))

    def apply(
        self, article_id: str, version: int, data: dict | None, *, withdrawn: bool,
        event_id: str, now: float, reason: str = "", event_type: str = "", occurred_at: str = "",
        log: bool = True,
    ) -> CasResult:
        return self.cas_result(self.queue_apply(self.redis, article_id, version, data, withdrawn=withdrawn,
                                                event_id=event_id, now=now, reason=reason, event_type=event_type,
                                                occurred_at=occurred_at, log=log))

    def queue_apply(self, client, article_id: str, version: int, data: dict | None, *, withdrawn: bool,
                    event_id: str, now: float, reason: str = "", event_type: str = "", occurred_at: str = "",
                    log: bool = True):
        """`apply` on `client` (a pipeline: queued; its result goes through `cas_result`).

        `event_type` (`article.updated`, ...) names the change in the log; without it the script
        tells a first version from a later one. `log=False`: the version becomes current but enters
        the change log later, by `changelog.append` (an embargo's release)."""
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")) if data else ""
        return self._cas(keys=[self.keys.article(article_id), self.keys.changelog, self.keys.changelog_trimmed,
                               self.keys.embargo_due],
                         args=[version, payload, int(withdrawn), event_id, now, reason, int(log),
                               int(self.log_retention * 1000), event_type.removeprefix("article."),
                               occurred_at or "", article_id], client=client)

    @staticmethod
    def cas_result(raw) -> CasResult:
        outcome, prev_v, prev, log_id = raw
        outcome = outcome.decode() if isinstance(outcome, bytes) else outcome
        log_id = log_id.decode() if isinstance(log_id, bytes) else log_id
        return CasResult(outcome, int(prev_v), json.loads(prev) if prev else None, log_id or "")

    def get(self, article_id: str) -> ArticleState | None:
        h = self.redis.hgetall(self.keys.article(article_id))
        return _state(article_id, h) if h else None

    @staticmethod
    def state_from(article_id: str, h: dict) -> ArticleState | None:
        """The state in a hash read elsewhere (a pipeline of the caller's); None if it was empty."""
        return _state(article_id, h) if h else None

    def get_many(self, article_ids: list[str]) -> list[ArticleState | None]:
        pipe = self.redis.pipeline(transaction=False)
        for a in article_ids:
            pipe.hgetall(self.keys.article(a))
        return [_state(a, h) if h else None for a, h in zip(article_ids, pipe.execute())]


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else (v or "")


def _state(article_id: str, h: dict) -> ArticleState:
    h = {_s(k): v for k, v in h.items()}
    data = json.loads(h["data"]) if h.get("data") else None
    updated_at = float(h.get("updated_at") or 0)
    if "released_data" in h:
        released = json.loads(h["released_data"]) if h["released_data"] else None
    else:  # stored before the field existed: out unless its embargo lay ahead when it was applied
        until = embargoed_until(data)
        released = data if until is None or until <= updated_at else None
    return ArticleState(
        id=article_id,
        version=int(h.get("version", 0)),
        withdrawn=_s(h.get("withdrawn")) == "1",
        data=data,
        event_id=_s(h.get("event_id")),
        updated_at=updated_at,
        reason=_s(h.get("reason")),
        released_data=released,
    )
