"""Settings: one frozen, typed object, built once per process by `configuration.load_settings`.

Everything the core needs is here, already parsed and checked: no raw
environment travels with it, and partner secrets were resolved when the
settings were loaded (a missing variable fails at start, not at the first push).

A Settings is an immutable snapshot with a `version`: a partners-file reload builds a new
one (configuration.reread, from the `source` the process started with) and publishes it
(infra/context.py); nothing ever changes one in place, so a batch that took a snapshot sees
one configuration from start to end.

    settings.partners            tuple[Partner, ...] from SYNDICATION_PARTNERS_FILE
    settings.targets             every Target pushed to: partners' targets, then the system
                                 targets (the WebSub hub, the ops webhook) configuration.py built
    settings.target(id)          the Target deliveries of `id` go to (delivery/ asks only this)
    settings.partner(id)         a partner of the file (never a system target)
    settings.feeds               tuple[FeedSpec, ...] from SYNDICATION_FEEDS_FILE
    settings.secrets_for(id)     a partner's or target's resolved secrets (`Secret` values)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from syndication.settings.secret import Secret

if TYPE_CHECKING:  # types only: at run time this package imports nothing above it
    from syndication.feeds.spec import FeedSpec
    from syndication.partners.registry import Partner
    from syndication.partners.target import Target

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_REDIS_MASTER = "syndication"
DAY = 86400.0
# Pushes in flight per deliveries process (delivery/engine.py): sized for WAN partners, 50-300 ms
# away and answering in 250 ms to 2 s (Little's law: 128 in flight at 250 ms is ~500 deliveries/s).
DELIVERY_IN_FLIGHT = 128
# Celery's pool in every worker, and its threads (workers/app.py, cli/topology.py): threads, so reloads
# reach everything that applies events or pushes; two overlap an events batch's or a render's Redis waits.
WORKER_POOL = "threads"
WORKER_THREADS = 2
# The API process's asyncio Redis pool (infra/redis_client.py): requests wait for a connection past it.
API_REDIS_POOL = 64
# Variables that no longer do anything: accepted with a warning for one release (configuration.py).
RETIRED = {"SYNDICATION_DELIVERY_THREADS": "the deliveries workers' Celery pool runs no pushes (the delivery "
                                           "engine's pushers do: SYNDICATION_DELIVERY_IN_FLIGHT), so it is no "
                                           "longer sized; remove it"}
# Redis connections a process needs beside its pushers: the engine's dispatcher, the lease renewer,
# housekeeping, Celery's own result/event clients, the API's request threads.
REDIS_POOL_SPARE = 16


@dataclass(frozen=True)
class Source:
    """What a configuration was read from: a copy of the environment the process started with.

    A reload reads the files again with it (configuration.reread), so no raw environment is
    handed around. It holds secrets: its repr shows only how many variables it has."""

    environ: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Source({len(self.environ)} variables)"


@dataclass(frozen=True)
class Settings:
    # Which configuration this is: the partners-file reload (`config:version` in Redis) it was
    # published at; 0 as read at start. A reload publishes a new Settings, never changes one.
    version: int = 0
    redis_url: str = DEFAULT_REDIS_URL
    key_prefix: str = "synd:"
    api_keys: tuple[Secret, ...] = ()
    ops_keys: tuple[Secret, ...] = ()
    feed_keys: tuple[Secret, ...] = ()
    partners_file: Path | None = None
    feeds_file: Path | None = None
    base_url: str = "http://127.0.0.1:8000"
    # The WebSub hub every feed advertises (rel="hub"): our own, `{base_url}/websub`, unless
    # SYNDICATION_WEBSUB_HUB names another (pinged when a feed changes) or is `off` (None: no hub).
    websub_hub: str | None = None
    # Our own hub (POST /websub) takes subscriptions: it is the hub advertised.
    websub_own_hub: bool = False
    # Our hub's subscriber callbacks may be on loopback or private networks (tests, local demos only).
    websub_allow_private_callbacks: bool = False
    # Subscriptions our hub keeps at most, in all; a new one past it is refused (429).
    websub_max_subscriptions: int = 10000
    # Subscriptions our hub keeps at most whose callback is on one host; a new one past it is refused (429).
    websub_max_per_host: int = 1000
    # Subscribe and unsubscribe requests one client address may make per minute (429 with Retry-After past it).
    websub_subscribe_rate: int = 60
    # The lease our hub grants a subscriber that asks for none (hub.lease_seconds).
    websub_lease: float = 10 * DAY
    # The shortest lease our hub grants: a shorter hub.lease_seconds is raised to it.
    websub_min_lease: float = 300.0
    # The longest lease our hub grants: a longer hub.lease_seconds is cut to it.
    websub_max_lease: float = 30 * DAY
    # Attempts of one verification or content delivery to a subscriber before it gives up (2xx ends it).
    websub_max_attempts: int = 8
    # How long our hub keeps an ended subscription (expired, denied, unsubscribed, removed) for ops to see.
    websub_ended_retention: float = 7 * DAY
    # How long a finished delivery to a subscriber (verification, content) is kept: a day, not the
    # partners' 30, since 200 subscribers times every render would otherwise fill Redis.
    websub_delivery_retention: float = DAY
    # How long an accepted event may stay unapplied before the sweeper re-drives it.
    event_redrive_after: float = 30.0
    # Minimum seconds between two renders of one feed (bursts coalesce into one).
    render_window: float = 1.0
    partners: tuple[Partner, ...] = ()
    feeds: tuple[FeedSpec, ...] = ()
    # The WebSub hub, pinged through the delivery machinery (retried, recorded): a target, no partner.
    websub_target: Target | None = None
    partner_secrets: Mapping[str, Mapping[str, Secret]] = field(default_factory=dict, repr=False)
    # Names of the ops keys, same order as ops_keys ("name:key" in SYNDICATION_OPS_KEYS; else "ops key N"):
    # the audit log says which key acted, never the key.
    ops_key_names: tuple[str, ...] = ()
    # Finished deliveries (delivered, superseded, cancelled) and their attempts expire after this.
    delivery_retention: float = 30 * DAY
    # The change log (pull API) keeps entries this long; an older cursor is answered 410 Gone.
    changelog_retention: float = 30 * DAY
    # Pull long polls (`wait`) open at once per API process, per partner and in all; 429 past either.
    pull_max_waits_per_partner: int = 50
    pull_max_waits: int = 500
    # Operational notifications (circuit opened, recovered, dead letters...): a target, no partner.
    ops_webhook_target: Target | None = None
    # Redis Sentinel ((host, port), ...): follow the current primary of `redis_master` (infra/redis_client.py);
    # redis_url then gives only the db and the password.
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_master: str = DEFAULT_REDIS_MASTER
    # Accepting an event waits until this many replicas hold it (WAIT), else 503: accepted survives a failover.
    redis_min_replicas: int = 0
    redis_replica_timeout: float = 1.0
    # Pushes in flight per deliveries process (SYNDICATION_DELIVERY_IN_FLIGHT), independent of Celery's -c.
    delivery_in_flight: int = DELIVERY_IN_FLIGHT
    # Process topology, decided here so `config check` checks it and `status` shows it:
    # deliveries worker processes `syndication up` starts (SYNDICATION_DELIVERY_PROCESSES; one per core, 2 at least),
    delivery_processes: int = 2
    # Celery's pool and its threads in every worker process (a deliveries worker's pool runs no task),
    worker_pool: str = WORKER_POOL
    worker_threads: int = WORKER_THREADS
    # and the API process's asyncio Redis pool (the sync pools are `redis_pool_size`).
    api_redis_pool_size: int = API_REDIS_POOL
    # Retired variables found in the environment (name -> what to do): `config check` warns.
    retired: Mapping[str, str] = field(default_factory=dict)
    # Where this configuration was read from (never compared: two snapshots of one file are equal).
    source: Source = field(default_factory=Source, repr=False, compare=False)

    @property
    def redis_pool_size(self) -> int:
        """Connections of a process's Redis pool: one per pusher and the spare (infra/redis_client.py)."""
        return self.delivery_in_flight + REDIS_POOL_SPARE

    def partner(self, partner_id: str) -> Partner | None:
        """A partner of the partners file (the hub and the ops webhook are targets, not partners)."""
        return self._partners_by_id.get(partner_id)

    def target(self, target_id: str) -> Target | None:
        """Where deliveries of `target_id` go: a partner's target or a system target."""
        return self._targets_by_id.get(target_id)

    @cached_property
    def _partners_by_id(self) -> dict[str, Partner]:
        # Every push looks its partner up, several times: a scan of 500 partners cost more than a Redis command.
        return {p.id: p for p in self.partners}

    @cached_property
    def _targets_by_id(self) -> dict[str, Target]:
        return {t.id: t for t in self.targets}

    def secrets_for(self, partner_id: str) -> Mapping[str, Secret]:
        return self.partner_secrets.get(partner_id, {})

    @cached_property
    def targets(self) -> tuple[Target, ...]:
        """Every target pushed to: the partners' (enabled or not), then the WebSub hub and the ops
        webhook. What the sweeper pumps, status shows and metrics count."""
        return tuple(p.target for p in self.partners if p.target is not None) + \
            tuple(t for t in (self.websub_target, self.ops_webhook_target) if t)

    def recipients(self, article: Mapping) -> list[str]:
        """The partners a version of `article` (its data) is pushed to: enabled, with a URL, filters
        matching. Fan-out, embargo releases and backfill all ask here."""
        return [p.id for p in self.partners if p.pushes and p.filters.wants(article, self.feeds)]

    def ops_key_name(self, index: int | None) -> str:
        """Who acted, for the audit log: the name of ops key `index` (None: the local CLI user)."""
        if index is None:
            return "cli"
        return self.ops_key_names[index] if index < len(self.ops_key_names) else f"ops key {index + 1}"

    def feed(self, name: str) -> FeedSpec | None:
        return next((f for f in self.feeds if f.name == name), None)
