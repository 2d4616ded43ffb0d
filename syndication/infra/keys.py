"""Every Redis key the service uses, documented in one place: the `FAMILIES` table below.

All keys start with SYNDICATION_KEY_PREFIX (default ``synd:``), so several
deployments (or test sessions) can share one Redis, and ops can find
everything with ``SCAN MATCH synd:*``. Celery's broker keys live under the
same prefix (``<prefix>celery:``). `FAMILIES` names each family, its Redis
type and, for hashes, every field; it is printed at the end of this
docstring, and an integration test walks every key written during a test
run and fails on a key or hash field it does not list.

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
    def events_kick(self) -> str:
        return f"{self.prefix}events:kick"

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

    @property
    def embargo_due(self) -> str:
        return f"{self.prefix}embargo:due"

    def feed_items(self, name: str) -> str:
        return f"{self.prefix}feed:{key_part(name)}:items"

    def feed_rendered(self, name: str, fmt: str) -> str:
        return f"{self.prefix}feed:{key_part(name)}:{fmt}"

    @property
    def feeds_dirty(self) -> str:
        return f"{self.prefix}feeds:dirty"

    def feed_render_lock(self, name: str) -> str:
        return f"{self.prefix}feed:{key_part(name)}:render_lock"

    def feed_render_window(self, name: str) -> str:
        return f"{self.prefix}feed:{key_part(name)}:render_window"

    def feed_stats(self, name: str) -> str:
        return f"{self.prefix}feed:{key_part(name)}:stats"

    def sitemap(self, name: str) -> str:
        return f"{self.prefix}sitemap:{key_part(name)}"

    def sitemap_build_lock(self, name: str) -> str:
        return f"{self.prefix}sitemap:{key_part(name)}:build_lock"

    def delivery(self, delivery_id: str) -> str:
        return f"{self.prefix}delivery:{key_part(delivery_id)}"

    def delivery_attempts(self, delivery_id: str) -> str:
        return f"{self.prefix}delivery:{key_part(delivery_id)}:attempts"

    def delivery_request(self, delivery_id: str) -> str:
        return f"{self.prefix}delivery:{key_part(delivery_id)}:request"

    def partner_due(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:due"

    def partner_inflight(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:inflight"

    @property
    def partners_ready(self) -> str:
        return f"{self.prefix}partners:ready"

    def partner_acked(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:acked"

    def partner_circuit(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:circuit"

    def partner_paused(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:paused"

    def partner_parked(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:parked"

    def partner_rate(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:rate"

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

    @property
    def config_version(self) -> str:
        return f"{self.prefix}config:version"

    @property
    def config_partners(self) -> str:
        return f"{self.prefix}config:partners"

    @property
    def config_request(self) -> str:
        return f"{self.prefix}config:request"

    @property
    def config_running(self) -> str:
        return f"{self.prefix}config:running"

    @property
    def changelog(self) -> str:
        return f"{self.prefix}changelog"

    @property
    def changelog_trimmed(self) -> str:
        return f"{self.prefix}changelog:trimmed"

    @property
    def audit(self) -> str:
        return f"{self.prefix}audit"

    @property
    def workers(self) -> str:
        return f"{self.prefix}workers"

    @property
    def sweeper_last_run(self) -> str:
        return f"{self.prefix}sweeper:last_run"

    @property
    def incidents(self) -> str:
        return f"{self.prefix}incidents"

    @property
    def queue_ages(self) -> str:
        return f"{self.prefix}ops:queue_ages"

    def incident(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{key_part(incident_id)}"

    def partner_failed_ids(self, partner_id: str) -> str:
        return f"{self.prefix}partner:{key_part(partner_id)}:failed_ids"

    def notice(self, notice_id: str) -> str:
        return f"{self.prefix}notice:{key_part(notice_id)}"

    def notice_window(self, kind: str, subject: str) -> str:
        return f"{self.prefix}notice:window:{key_part(kind)}:{key_part(subject)}"

    def metric(self, name: str) -> str:
        return f"{self.prefix}metrics:{name}"

    def ops_session(self, token_hash: str) -> str:
        return f"{self.prefix}ops:session:{key_part(token_hash)}"

    def portal_session(self, token_hash: str) -> str:
        return f"{self.prefix}portal:session:{key_part(token_hash)}"

    def portal_rate(self, partner_id: str, action: str) -> str:
        return f"{self.prefix}portal:rate:{key_part(partner_id)}:{key_part(action)}"

    def portal_test_push(self, partner_id: str) -> str:
        return f"{self.prefix}portal:test_push:{key_part(partner_id)}"

    def websub_sub(self, sub_id: str) -> str:
        return f"{self.prefix}websub:sub:{key_part(sub_id)}"

    @property
    def websub_subs(self) -> str:
        return f"{self.prefix}websub:subs"

    def websub_topic(self, feed: str, fmt: str) -> str:
        return f"{self.prefix}websub:topic:{key_part(feed)}:{key_part(fmt)}"

    def websub_host(self, host: str) -> str:
        return f"{self.prefix}websub:host:{key_part(host)}"

    @property
    def websub_leases(self) -> str:
        return f"{self.prefix}websub:leases"

    @property
    def websub_busy(self) -> str:
        return f"{self.prefix}websub:busy"

    def websub_rate(self, client: str) -> str:
        return f"{self.prefix}websub:rate:{key_part(client)}"

    @property
    def websub_ended(self) -> str:
        return f"{self.prefix}websub:ended"

    def websub_ended_sub(self, sub_id: str) -> str:
        return f"{self.prefix}websub:ended:{key_part(sub_id)}"

    def auth_failures(self, client: str) -> str:
        return f"{self.prefix}auth:failures:{key_part(client)}"

    def auth_known(self, client: str) -> str:
        return f"{self.prefix}auth:known:{key_part(client)}"


@dataclass(frozen=True)
class Family:
    pattern: str  # the key after the prefix; {…} is an id (key_part-encoded)
    type: str  # hash | zset | set | list | string | any (Celery's own)
    doc: str
    fields: tuple[str, ...] | None = None  # hash fields; None: any (label sets, field per id)


_DELIVERY_FIELDS = ("id", "partner", "kind", "article_id", "version", "event_id", "event_type", "status", "attempts",
                    "created_at", "updated_at", "next_attempt_at", "occurred_at", "finished_at", "last_status",
                    "last_error", "attempts_base", "replays", "replayed_at", "traceparent", "tracestate")

FAMILIES: tuple[Family, ...] = (
    Family("event:{event_id}", "hash", "an accepted event; TTL 7 days (the idempotency window), none once dead",
           ("body", "type", "article_id", "version", "status", "received_at", "outcome", "previous_version",
            "failures", "last_error")),
    Family("events:pending", "zset", "event_id -> when it is due to be applied: accepted-at, or, once an "
           "apply batch claimed it, claim time + event_redrive_after (a claim outlived by its batch is "
           "taken again); removed once applied"),
    Family("events:kick", "string", "time an apply batch was queued; deleted when a batch starts (TTL 60 s)"),
    Family("events:dead", "zset", "event_id -> time parked: failed to apply MAX_APPLY_FAILURES times"),
    Family("events:log", "list", "recent outcomes (applied/stale) as JSON, capped at 1000"),
    Family("articles", "zset", "article_id -> published-at: every article ever applied (feed rebuilds)"),
    Family("article:{article_id}", "hash", "the newest version of an article",
           ("version", "withdrawn", "data", "event_id", "updated_at", "reason", "released",
            "released_data")),
    Family("article:{article_id}:deliveries", "set", "delivery ids of the article (history)"),
    Family("embargo:due", "zset", "article_id -> embargo instant: held versions the sweep releases then "
           "(pipeline/embargo.py); `released` on the article hash is the version last released"),
    Family("feed:{name}:items", "zset", "article_id -> published-at (unix s), capped at max_items + 50"),
    Family("feed:{name}:{fmt}", "hash", "a rendered feed; fmt in rss|atom|json",
           ("body", "gzip", "etag", "last_modified", "content_type")),
    Family("feeds:dirty", "zset", "feed name -> first-dirty time: feeds waiting for a render"),
    Family("feed:{name}:render_lock", "string", "set while one render is queued or running (TTL 30 s)"),
    Family("feed:{name}:render_window", "string", "set by a render as it stores, for the render window (its "
           "TTL): no render is queued while it lives; the sweep queues the feed's next one once it expired"),
    Family("feed:{name}:stats", "hash", "render bookkeeping",
           ("renders", "last_render_at", "last_duration", "spec_hash", "changed_at")),
    Family("sitemap:{name}", "hash", "a news sitemap set's files (news, news/{feed}) under the fingerprint "
           "they were built from: fingerprint, files, and {n}:body, {n}:etag, {n}:last_modified per file "
           "(feeds/sitemap_store.py; TTL 3 days)", None),
    Family("sitemap:{name}:build_lock", "string", "held by the one request rebuilding a sitemap set (a redis-py "
           "lock, TTL 30 s); the others wait for its files (feeds/sitemap_store.py)"),
    Family("delivery:{delivery_id}", "hash", "one delivery (article, version, partner)", _DELIVERY_FIELDS),
    Family("delivery:{delivery_id}:attempts", "list", "one JSON per attempt, capped at 200"),
    Family("delivery:{delivery_id}:request", "string", "JSON of the request the last attempt sent: its headers "
           "(credentials masked) and body (the first 256 KiB, marked when cut), so a partner can re-check "
           "its signature; expires and persists with the delivery"),
    Family("partner:{partner_id}:due", "zset", "delivery_id -> due time: ready now or a scheduled retry"),
    Family("partner:{partner_id}:inflight", "zset", "delivery_id -> lease deadline; expired leases go back to due"),
    Family("partners:ready", "zset", "partner_id -> when it became ready: has due deliveries, a delivery engine takes it"),
    Family("partner:{partner_id}:acked", "hash", "article_id -> highest version the partner acknowledged", None),
    Family("partner:{partner_id}:circuit", "hash", "circuit breaker and health",
           ("state", "failures", "opened_at", "last_success_at", "last_failure_at", "failing_since", "probe_at",
            "opened_count", "disabled", "disabled_at", "disabled_reason", "last_status", "last_error", "incident",
            "cut")),
    Family("partner:{partner_id}:paused", "string", "present while ops paused the partner"),
    Family("partner:{partner_id}:parked", "zset", "delivery_id -> time parked (410 Gone); back to due on enable"),
    Family("partner:{partner_id}:slots", "zset", "batch token -> lease deadline: at most max_in_flight at once"),
    Family("partner:{partner_id}:rate", "hash", "the partner's rate limiter (delivery/ratelimit.py, GCRA): its "
           "theoretical arrival time, and when a claim was last held back and until when; TTL: a minute past "
           "both", ("tat", "throttled_at", "until")),
    Family("partner:{partner_id}:recent", "list", '"time,latency_s,ok" of the last 1000 attempts'),
    Family("partner:{partner_id}:history", "zset", "delivery_id -> created-at, the partner's listing"),
    Family("deadletters", "zset", "delivery_id -> time it died"),
    Family("metrics:{name}", "hash", "label set -> value: counters and histogram buckets of every process",
           None),
    Family("config:version", "string", "bumped by `partners reload` / SIGHUP: every process re-reads the "
           "partners file when it moves"),
    Family("config:partners", "hash", "partner id -> digest of its settings as the processes last applied "
           "them (what the next reload reports as changed)", None),
    Family("config:request", "hash", "the last reload requested: who, when, which file, and whether it may "
           "leave no partner (ops/reload.py)", ("actor", "at", "file", "allow_empty")),
    Family("config:running", "hash", "process name -> JSON {kind, host, pid, last_seen, version, file, digest, "
           "partners, cancelled, rejected}: the partners configuration each worker and API process runs, "
           "in its own words (ops/running_config.py)", None),
    Family("changelog", "stream", "every version as it became current (the pull API's log), one entry "
           "each: id, version, type, event_id, at, data, reason, occurred_at; trimmed by "
           "changelog_retention"),
    Family("changelog:trimmed", "string", "id of the newest change log entry ever trimmed: a pull cursor below "
           "it lost entries (410)"),
    Family("audit", "list", "ops actions (replay, discard, pause, resume, enable, backfill) as JSON, newest "
           "first, capped at 1000"),
    Family("workers", "hash", "worker name -> JSON {queues, host, pid, started_at, last_seen}: heartbeats "
           "every 5 s; a name gone quiet is a missing worker (forgotten after a day)", None),
    Family("sweeper:last_run", "string", "time the last sweep ran (any worker's)"),
    Family("incidents", "zset", "incident id -> start time: circuit openings, kept 7 days"),
    Family("ops:queue_ages", "zset", "JSON {at, partners: {id: [oldest waiting s, waiting]}} -> time: a "
           "sample of every partner's queue every 10 s, the last hour kept (ops/queue_ages.py)"),
    Family("incident:{incident_id}", "hash", "one incident (a partner's circuit opened until it recovered)",
           ("partner", "started_at", "opened_at", "ended_at", "affected", "last_status", "last_error")),
    Family("partner:{partner_id}:failed_ids", "string", "HyperLogLog of deliveries that failed during the "
           "partner's open incident (its deliveries affected)"),
    Family("notice:{notice_id}", "string", "an ops webhook notification's JSON body (TTL 7 days)"),
    Family("notice:window:{kind}:{subject}", "hash", "rate limit of one notice kind per subject: sent at, "
           "suppressed since", ("sent_at", "suppressed")),
    Family("sweep:lock", "string", "held 900 ms by the running sweep (two beats: one sweep)"),
    Family("ops:session:{token_hash}", "hash", "an /ops session; TTL = session lifetime (12 h)",
           ("key_name", "key_ref", "key_check", "csrf", "created_at")),
    Family("portal:session:{token_hash}", "hash", "a partner's /portal session; TTL = session lifetime (12 h)",
           ("key_name", "key_ref", "key_check", "csrf", "created_at")),
    Family("portal:rate:{partner_id}:{action}", "string", "a partner's portal replays or test pushes this "
           "minute (api/portal_actions.py; TTL 60 s)"),
    Family("portal:test_push:{partner_id}", "string", "a partner's last test push, what was sent and the answer "
           "(delivery/sample_push.py; TTL 1 day)"),
    Family("websub:sub:{sub_id}", "hash", "one subscription of our WebSub hub (delivery/subscriptions.py): "
           "topic, its feed and format, callback and its host, state (unverified | active), the lease granted and "
           "when it ends, the secret signing its content; and the latest request not yet verified (`intent`: "
           "its token, mode, lease, secret, challenge, time). Deleted when unsubscribed, denied or expired",
           ("id", "topic", "feed", "fmt", "callback", "host", "state", "lease_seconds", "expires_at", "secret",
            "created_at", "updated_at", "verified_at", "intent", "intent_mode", "intent_lease", "intent_secret",
            "intent_challenge", "intent_at")),
    Family("websub:subs", "zset", "sub_id -> created-at: every subscription, unverified or active (the overall cap)"),
    Family("websub:topic:{feed}:{fmt}", "zset", "sub_id -> lease end: the active subscribers of one topic"),
    Family("websub:host:{host}", "set", "sub_ids whose callback is on this host (the per-host cap)"),
    Family("websub:leases", "zset", "sub_id -> lease end: active subscriptions, for the sweep that expires them"),
    Family("websub:busy", "zset", "subscriber target id -> when work was last created for it: the hub's "
           "subscriber targets the sweeper pumps (delivery/targets.py), dropped once they have nothing due "
           "or in flight"),
    Family("websub:rate:{client}", "hash", "subscribe requests of one client address (GCRA, as "
           "delivery/ratelimit.py; websub/requests.py); TTL a minute past its arrival time", ("tat",)),
    Family("websub:ended", "zset", "sub_id -> when it ended: the hub's subscriptions that ended (expired, denied, "
           "unsubscribed, removed by ops), kept `websub_ended_retention` for ops (delivery/subscription_ends.py)"),
    Family("websub:ended:{sub_id}", "hash", "what an ended subscription was and why it ended (never its secret); "
           "TTL = websub_ended_retention", ("id", "topic", "feed", "fmt", "callback", "host", "state",
                                              "lease_seconds", "created_at", "verified_at", "expires_at", "reason",
                                              "ended_at")),
    Family("auth:failures:{client}", "string", "failed key attempts of a client (TTL 60 s, or the announced wait)"),
    Family("auth:known:{client}", "set", "fingerprints of the keys that worked from a client: they still pass "
           "while it is throttled (api/throttle.py; TTL 7 days from the last success)"),
    Family("celery:{celery_key}", "any", "Celery's broker: queue lists (events, feeds, deliveries), unacked "
           "messages and their index, bindings"),
)


def _table() -> str:
    rows = []
    for f in FAMILIES:
        fields = f" Fields: {', '.join(f.fields)}." if f.fields else ""
        rows.append(f"{f.pattern:<34}{f.type:<8}{f.doc}.{fields}")
    return "\n".join(["", "Key family                        type    contents", "-" * 80, *rows])


__doc__ += _table()
