"""Every Redis key the service uses, documented in one place.

All keys start with SYNDICATION_KEY_PREFIX (default ``synd:``), so several
deployments (or test sessions) can share one Redis, and ops can find
everything with ``SCAN MATCH synd:*``. Celery's own broker keys (the queue
lists ``events``/``feeds``/``deliveries`` and ``unacked*``) are not ours.

Key family                        type    contents
--------------------------------  ------  ---------------------------------------------
event:{event_id}                  hash    body (raw JSON), type, article_id, version,
                                          status (accepted|applied|stale), received_at,
                                          outcome, failures, last_error; TTL 7 days (the idempotency window)
events:pending                    zset    event_id -> accepted-at; removed once applied.
                                          The sweeper re-drives members older than
                                          event_redrive_after (accepted means durable).
events:dead                       zset    event_id -> time parked: events that failed to apply
                                          MAX_APPLY_FAILURES times (their hash keeps failures,
                                          last_error); replayable after a fix
events:log                        list    recent outcomes (applied/stale), capped at 1000
articles                          zset    article_id -> published-at: every article ever
                                          applied (rebuilds feed indexes when a feed's
                                          definition changes)
article:{article_id}              hash    version, withdrawn (0|1), data (clean article
                                          JSON), event_id, updated_at, reason
feed:{name}:items                 zset    article_id -> published-at (unix s), capped
feed:{name}:{fmt}                 hash    body (bytes), gzip (bytes), etag, last_modified,
                                          content_type; fmt in rss|atom|json
feeds:dirty                       zset    feed name -> first-dirty time (unix s)
feed:{name}:render_lock           string  set while one render is queued/running (TTL)
feed:{name}:stats                 hash    renders, last_render_at, last_duration
delivery:{delivery_id}            hash    partner, article_id, version, event_id, kind,
                                          status, attempts, created_at, updated_at,
                                          next_attempt_at, last_status, last_error
delivery:{delivery_id}:attempts   list    one JSON per attempt (capped at 200)
article:{article_id}:deliveries   set     delivery ids of the article (history)
partner:{id}:due                  zset    delivery_id -> due time: ready now or a
                                          scheduled retry; pumped by beat
partner:{id}:inflight             zset    delivery_id -> lease deadline; expired leases
                                          are moved back to due by the sweeper
partner:{id}:kick                 string  a push batch is queued for the partner (TTL)
partner:{id}:acked                hash    article_id -> highest version the partner
                                          acknowledged (2xx)
partner:{id}:circuit              hash    state, failures, opened_at, last_success_at,
                                          last_failure_at
partner:{id}:paused               string  present while ops paused the partner
partner:{id}:parked               zset    delivery_id -> time parked (410 Gone); moved back
                                          to due when ops re-enable the partner
partner:{id}:slots                zset    batch token -> lease deadline: at most
                                          max_in_flight pushes to the partner at once
partner:{id}:recent               list    "time,latency_s,ok" of the last 1000 attempts
                                          (success rate and p95 for `syndication status`)
metrics:{name}                    hash    label set -> value: counters and histogram
                                          buckets written by every process (metrics.py)
partner:{id}:history              zset    delivery_id -> created-at, per partner listing
deadletters                       zset    delivery_id -> time it died
sweep:lock                        string  held 900 ms by the running sweep (two beats: one sweep)
ops:session:{sha256(token)}       hash    key_name, csrf, created_at; TTL = session lifetime
auth:failures:{client address}    string  failed key attempts in the current minute (TTL 60 s)

Every id inside a key goes through `key_part`, which percent-encodes `:` (and
`%`, braces, anything unusual): ids may contain `:`, and without the encoding
article `X:deliveries` would be the same key as article `X`'s delivery set.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

EVENT_TTL = 7 * 24 * 3600
QUEUES = ("events", "feeds", "deliveries")  # Celery's queue lists, under <prefix>celery:
ATTEMPTS_CAP = 200


def key_part(value: str) -> str:
    """An id as it appears inside a key: `:`, `%`, `{`, `}` and anything unusual percent-encoded.

    Ids may contain `:` (events.ID_PATTERN), and `:` separates a family's parts:
    unencoded, article `X:deliveries` would *be* article `X`'s delivery set.
    Encoded, no id can spell another family's suffix, whatever it contains.
    """
    return quote(value, safe="._@/-")


@dataclass(frozen=True)
class Keys:
    prefix: str = "synd:"

    def event(self, event_id: str) -> str:
        return f"{self.prefix}event:{key_part(event_id)}"

    @property
    def events_pending(self) -> str:
        return f"{self.prefix}events:pending"

    @property
    def events_dead(self) -> str:
        return f"{self.prefix}events:dead"

    @property
    def events_log(self) -> str:
        return f"{self.prefix}events:log"

    @property
    def articles(self) -> str:
        return f"{self.prefix}articles"

    def article(self, article_id: str) -> str:
        return f"{self.prefix}article:{key_part(article_id)}"

    def article_deliveries(self, article_id: str) -> str:
        return f"{self.prefix}article:{key_part(article_id)}:deliveries"

    def feed_items(self, name: str) -> str:
        return f"{self.prefix}feed:{key_part(name)}:items"

    def feed_rendered(self, name: str, fmt: str) -> str:
        return f"{self.prefix}feed:{key_part(name)}:{fmt}"

    @property
    def feeds_dirty(self) -> str:
        return f"{self.prefix}feeds:dirty"

    def feed_render_lock(self, name: str) -> str:
        return f"{self.prefix}feed:{key_part(name)}:render_lock"

    def feed_stats(self, name: str) -> str:
        return f"{self.prefix}feed:{key_part(name)}:stats"

    def delivery(self, delivery_id: str) -> str:
        return f"{self.prefix}delivery:{key_part(delivery_id)}"

    def delivery_attempts(self, delivery_id: str) -> str:
        return f"{self.prefix}delivery:{key_part(delivery_id)}:attempts"

    def partner_due(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:due"

    def partner_inflight(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:inflight"

    def partner_kick(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:kick"

    def partner_acked(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:acked"

    def partner_circuit(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:circuit"

    def partner_paused(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:paused"

    def partner_parked(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:parked"

    def partner_slots(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:slots"

    def partner_recent(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:recent"

    def celery_queue(self, queue: str) -> str:
        return f"{self.prefix}celery:{queue}"

    @property
    def celery_unacked(self) -> str:
        return f"{self.prefix}celery:unacked"

    def partner_history(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:history"

    @property
    def sweep_lock(self) -> str:
        return f"{self.prefix}sweep:lock"

    @property
    def deadletters(self) -> str:
        return f"{self.prefix}deadletters"

    def ops_session(self, token_hash: str) -> str:
        return f"{self.prefix}ops:session:{key_part(token_hash)}"

    def auth_failures(self, client: str) -> str:
        return f"{self.prefix}auth:failures:{key_part(client)}"
