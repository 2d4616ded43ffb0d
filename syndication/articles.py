"""Article state: the newest version of every article, and nothing older.

One Redis hash per article (see infra/keys.py). The compare-and-set runs as a Lua
script, so two workers applying versions 2 and 3 concurrently can never
leave version 2 behind: a version only replaces a strictly lower one.

Re-applying the *same* event (a task redelivered after a crash) is told
apart from a stale one, so its follow-up work (feeds, deliveries) can be
done again safely instead of being lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the store is handed its key builder by infra.context
    from syndication.infra.keys import Keys

# KEYS[1] article hash. ARGV: version, data ('' keeps the old data), withdrawn, event_id, now, reason
# Returns {outcome, previous_version, previous_data}; outcome: applied | replay | stale.
_CAS = """
local cur = redis.call('HGET', KEYS[1], 'version')
if cur then
  local curv = tonumber(cur)
  local newv = tonumber(ARGV[1])
  if curv > newv then return {'stale', cur, ''} end
  if curv == newv then
    if redis.call('HGET', KEYS[1], 'event_id') == ARGV[4] then
      return {'replay', cur, redis.call('HGET', KEYS[1], 'data') or ''}
    end
    return {'stale', cur, ''}
  end
end
local prev = redis.call('HGET', KEYS[1], 'data') or ''
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'data', ARGV[2]) end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'withdrawn', ARGV[3], 'event_id', ARGV[4],
           'updated_at', ARGV[5], 'reason', ARGV[6])
return {'applied', cur or '0', prev}
"""


def article_urn(article_id: str) -> str:
    """The article's identity in every output: `urn:syndication:article:<id>`.

    Feeds use it as RSS guid (isPermaLink="false"), Atom id and JSON Feed id,
    and pushes as ninjs uri and Atom entry id. Not the URL: two articles may
    share a URL (a live page, a re-used slug) and readers would merge them.
    Ids never change across versions and only hold characters legal in a
    URN's namespace-specific string (events.ID_PATTERN).
    """
    return f"urn:syndication:article:{article_id}"


@dataclass(frozen=True)
class CasResult:
    outcome: str  # applied | replay | stale
    previous_version: int
    previous: dict[str, Any] | None


@dataclass(frozen=True)
class ArticleState:
    id: str
    version: int
    withdrawn: bool
    data: dict[str, Any] | None
    event_id: str
    updated_at: float
    reason: str

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
    def __init__(self, redis, keys: Keys):
        self.redis = redis
        self.keys = keys
        self._cas = redis.register_script(_CAS)

    def apply(
        self, article_id: str, version: int, data: dict | None, *, withdrawn: bool,
        event_id: str, now: float, reason: str = "",
    ) -> CasResult:
        return self.cas_result(self.queue_apply(self.redis, article_id, version, data, withdrawn=withdrawn,
                                                event_id=event_id, now=now, reason=reason))

    def queue_apply(self, client, article_id: str, version: int, data: dict | None, *, withdrawn: bool,
                    event_id: str, now: float, reason: str = ""):
        """`apply` on `client` (a pipeline: queued; its result goes through `cas_result`)."""
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")) if data else ""
        return self._cas(keys=[self.keys.article(article_id)],
                         args=[version, payload, int(withdrawn), event_id, now, reason], client=client)

    @staticmethod
    def cas_result(raw) -> CasResult:
        outcome, prev_v, prev = raw
        outcome = outcome.decode() if isinstance(outcome, bytes) else outcome
        return CasResult(outcome, int(prev_v), json.loads(prev) if prev else None)

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
    data = h.get("data")
    return ArticleState(
        id=article_id,
        version=int(h.get("version", 0)),
        withdrawn=_s(h.get("withdrawn")) == "1",
        data=json.loads(data) if data else None,
        event_id=_s(h.get("event_id")),
        updated_at=float(h.get("updated_at") or 0),
        reason=_s(h.get("reason")),
    )
