"""Loading the configuration: the environment mapping and the YAML files, into one Settings.

The one place that reads `SYNDICATION_*` variables. Composition roots call it
once per process (the CLI, workers/app.py, tests) and pass the result down:

    settings = load_settings(os.environ)   # ConfigError names the bad variable or key
    newer = reread(settings, version=7)    # a reload: the files again, same environment
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from pathlib import Path

from syndication.errors import ConfigError
from syndication.feeds.spec import load_feeds
from syndication.partners.registry import load_partners, resolve_secrets
from syndication.partners.target import (OPS_WEBHOOK, SYSTEM_TARGETS, WEBSUB_HUB, Target, is_subscriber,
                                         target_secrets)
from syndication.settings.model import (DAY, DELIVERY_IN_FLIGHT, DEFAULT_REDIS_MASTER, DEFAULT_REDIS_URL, RETIRED,
                                        Settings, Source)
from syndication.settings.secret import Secret

log = logging.getLogger("syndication.config")
KEY_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_.@-]{0,31}):(.+)$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _keys(raw: str | None) -> tuple[Secret, ...]:
    return tuple(Secret(k.strip()) for k in (raw or "").split(",") if k.strip())


def _named_keys(raw: str | None) -> tuple[tuple[Secret, ...], tuple[str, ...]]:
    """`name:key,...` (plain keys still accepted, named "ops key N"): the name goes in the audit log."""
    keys, names = [], []
    for i, entry in enumerate(k.strip() for k in (raw or "").split(",") if k.strip()):
        m = KEY_NAME.match(entry)
        keys.append(Secret(m.group(2) if m else entry))
        names.append(m.group(1) if m else f"ops key {i + 1}")
    return tuple(keys), tuple(names)


def _duration(env: Mapping[str, str], name: str, default: float) -> float:
    """Plain seconds or a number with a unit: 90s, 15m, 2h, 30d."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    unit = raw[-1].lower() if raw[-1].lower() in UNITS else "s"
    number = raw[:-1] if raw[-1].lower() in UNITS else raw
    try:
        value = float(number) * UNITS[unit]
    except ValueError:
        raise ConfigError(f"{name}: expected seconds or a duration like 90s, 15m, 2h, 30d; got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name}: must be more than 0, got {raw!r}")
    return value


def _ops_webhook(env: Mapping[str, str]) -> Target | None:
    """The ops webhook: a system target (durable retries, history, circuit), signed when a secret is set."""
    url = env.get("SYNDICATION_OPS_WEBHOOK_URL")
    if not url:
        return None
    auth = {"type": "standard-webhooks", "secret_env": "SYNDICATION_OPS_WEBHOOK_SECRET"} \
        if env.get("SYNDICATION_OPS_WEBHOOK_SECRET") else {"type": "none"}
    try:
        return Target(id=OPS_WEBHOOK, url=url, auth=auth, batch_size=20, allow_private_network=True,
                      retry={"max_age": 2 * DAY})
    except ValueError as exc:
        raise ConfigError(f"SYNDICATION_OPS_WEBHOOK_URL: {exc}") from None


def _hub(raw: str | None, base_url: str) -> tuple[str | None, bool]:
    """(the hub feeds advertise, whether it is our own): SYNDICATION_WEBSUB_HUB unset means our own
    `{base_url}/websub`, `off` none, anything else an external hub we ping."""
    raw = (raw or "").strip()
    if raw.lower() == "off":
        return None, False
    own = f"{base_url}/websub"
    return (raw, raw == own) if raw else (own, True)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def _websub_hub(hub: str | None, own: bool) -> Target | None:
    """The external WebSub hub we ping when a feed changes: a system target, unsigned (hubs take plain
    form posts). None for our own hub (render_feed hands it the changes itself) or none at all."""
    if not hub or own:
        return None
    try:
        return Target(id=WEBSUB_HUB, url=hub, allow_private_network=True, batch_size=20)
    except ValueError as exc:
        raise ConfigError(f"SYNDICATION_WEBSUB_HUB: {exc}") from None


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {raw!r}") from None


def _sentinels(raw: str | None) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port,...` (SYNDICATION_REDIS_SENTINELS); the port defaults to 26379."""
    found = []
    for entry in (e.strip() for e in (raw or "").split(",") if e.strip()):
        host, _, port = entry.rpartition(":") if ":" in entry else (entry, "", "26379")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"SYNDICATION_REDIS_SENTINELS: expected host:port,host:port,...; got {entry!r}")
        found.append((host.strip("[]"), int(port)))
    return tuple(found)


def _replicas(env: Mapping[str, str]) -> int:
    raw = (env.get("SYNDICATION_REDIS_MIN_REPLICAS") or "0").strip()
    if not raw.isdigit():
        raise ConfigError(f"SYNDICATION_REDIS_MIN_REPLICAS: expected a whole number of replicas, got {raw!r}")
    return int(raw)


def _count(env: Mapping[str, str], name: str, default: int, maximum: int | None = None) -> int:
    """A whole number of at least 1 (ASCII digits only), at most `maximum` if given."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1 or (maximum is not None and int(raw) > maximum):
        bound = f"from 1 to {maximum}" if maximum is not None else "of at least 1"
        raise ConfigError(f"{name}: expected a whole number {bound}, got {raw!r}")
    return int(raw)


def _path(env: Mapping[str, str], name: str) -> Path | None:
    return Path(env[name]) if env.get(name) else None


def reread(settings: Settings, version: int | None = None) -> Settings:
    """`settings` read again from where they came from (the files may have changed since), as
    snapshot `version` (default: the same version)."""
    return load_settings(settings.source.environ, settings.version if version is None else version)


def load_settings(env: Mapping[str, str] | None = None, version: int = 0) -> Settings:
    """Settings from `env` (default: os.environ) and the YAML files it names, secrets resolved."""
    env = dict(os.environ if env is None else env)
    prefix = env.get("SYNDICATION_KEY_PREFIX", "synd:")
    if not prefix:
        raise ConfigError("SYNDICATION_KEY_PREFIX: must not be empty")
    partners_file, feeds_file = _path(env, "SYNDICATION_PARTNERS_FILE"), _path(env, "SYNDICATION_FEEDS_FILE")
    partners, feeds = load_partners(partners_file), load_feeds(feeds_file)
    base_url = (env.get("SYNDICATION_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
    hub, own_hub = _hub(env.get("SYNDICATION_WEBSUB_HUB"), base_url)
    feed_names = {f.name for f in feeds}
    for p in partners:
        if p.id in SYSTEM_TARGETS or is_subscriber(p.id):
            what = SYSTEM_TARGETS.get(p.id, "the WebSub hub's subscribers (ws-...)")
            raise ConfigError(f"{partners_file}: partner id {p.id!r} is reserved for {what}")
        unknown = sorted(set(p.filters.feeds) - feed_names)
        if unknown:
            raise ConfigError(f"partner {p.id}: filters.feeds names unknown feeds: {', '.join(unknown)}")
    retired = {name: why for name, why in RETIRED.items() if env.get(name)}
    for name, why in retired.items():
        log.warning("%s is retired and ignored: %s", name, why)
    ops_keys, ops_key_names = _named_keys(env.get("SYNDICATION_OPS_KEYS"))
    ops_webhook = _ops_webhook(env)
    secrets = {p.id: resolve_secrets(p, env) for p in partners}
    if ops_webhook:
        secrets[ops_webhook.id] = target_secrets(ops_webhook, env, "SYNDICATION_OPS_WEBHOOK_URL")
    if _duration(env, "SYNDICATION_WEBSUB_MIN_LEASE", 300.0) > _duration(env, "SYNDICATION_WEBSUB_MAX_LEASE", 30 * DAY):
        raise ConfigError("SYNDICATION_WEBSUB_MIN_LEASE: longer than SYNDICATION_WEBSUB_MAX_LEASE")
    return Settings(
        version=version,
        source=Source(MappingProxyType(env)),
        redis_url=env.get("SYNDICATION_REDIS_URL") or DEFAULT_REDIS_URL,
        key_prefix=prefix,
        api_keys=_keys(env.get("SYNDICATION_API_KEYS")),
        ops_keys=ops_keys,
        ops_key_names=ops_key_names,
        delivery_retention=_duration(env, "SYNDICATION_DELIVERY_RETENTION", 30 * DAY),
        changelog_retention=_duration(env, "SYNDICATION_CHANGELOG_RETENTION", 30 * DAY),
        pull_max_waits_per_partner=_count(env, "SYNDICATION_PULL_MAX_WAITS_PER_PARTNER", 50),
        pull_max_waits=_count(env, "SYNDICATION_PULL_MAX_WAITS", 500),
        ops_webhook_target=ops_webhook,
        feed_keys=_keys(env.get("SYNDICATION_FEED_KEYS")),
        partners_file=partners_file,
        feeds_file=feeds_file,
        base_url=base_url,
        websub_hub=hub,
        websub_own_hub=own_hub,
        websub_allow_private_callbacks=_flag(env, "SYNDICATION_WEBSUB_ALLOW_PRIVATE_CALLBACKS"),
        websub_max_subscriptions=_count(env, "SYNDICATION_WEBSUB_MAX_SUBSCRIPTIONS", 10000),
        websub_max_per_host=_count(env, "SYNDICATION_WEBSUB_MAX_PER_HOST", 1000),
        websub_subscribe_rate=_count(env, "SYNDICATION_WEBSUB_SUBSCRIBE_RATE", 60),
        websub_lease=_duration(env, "SYNDICATION_WEBSUB_LEASE", 10 * DAY),
        websub_min_lease=_duration(env, "SYNDICATION_WEBSUB_MIN_LEASE", 300.0),
        websub_max_lease=_duration(env, "SYNDICATION_WEBSUB_MAX_LEASE", 30 * DAY),
        websub_max_attempts=_count(env, "SYNDICATION_WEBSUB_MAX_ATTEMPTS", 8, 100),
        websub_ended_retention=_duration(env, "SYNDICATION_WEBSUB_ENDED_RETENTION", 7 * DAY),
        websub_delivery_retention=_duration(env, "SYNDICATION_WEBSUB_DELIVERY_RETENTION", DAY),
        event_redrive_after=_number(env, "SYNDICATION_EVENT_REDRIVE_AFTER", 30.0),
        render_window=_number(env, "SYNDICATION_RENDER_WINDOW", 1.0),
        partners=partners,
        feeds=feeds,
        websub_target=_websub_hub(hub, own_hub),
        partner_secrets=secrets,
        redis_sentinels=_sentinels(env.get("SYNDICATION_REDIS_SENTINELS")),
        redis_master=env.get("SYNDICATION_REDIS_MASTER") or DEFAULT_REDIS_MASTER,
        redis_min_replicas=_replicas(env),
        redis_replica_timeout=_duration(env, "SYNDICATION_REDIS_REPLICA_TIMEOUT", 1.0),
        delivery_in_flight=_count(env, "SYNDICATION_DELIVERY_IN_FLIGHT", DELIVERY_IN_FLIGHT, 4096),
        delivery_processes=_count(env, "SYNDICATION_DELIVERY_PROCESSES", max(2, os.cpu_count() or 1), 256),
        retired=retired,
    )
