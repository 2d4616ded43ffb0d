"""Loading the configuration: the environment mapping and the YAML files, into one Settings.

The one place that reads `SYNDICATION_*` variables. Composition roots call it
once per process (the CLI, workers/app.py, tests) and pass the result down:

    settings = load_settings(os.environ)   # ConfigError names the bad variable or key
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from syndication.errors import ConfigError
from syndication.feeds.spec import load_feeds
from syndication.partners.registry import Partner, load_partners, resolve_secrets
from syndication.settings.model import DEFAULT_REDIS_URL, WEBSUB_PARTNER_ID, Settings
from syndication.settings.secret import Secret


def _keys(raw: str | None) -> tuple[Secret, ...]:
    return tuple(Secret(k.strip()) for k in (raw or "").split(",") if k.strip())


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {raw!r}") from None


def _path(env: Mapping[str, str], name: str) -> Path | None:
    return Path(env[name]) if env.get(name) else None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from `env` (default: os.environ) and the YAML files it names, secrets resolved."""
    env = dict(os.environ if env is None else env)
    prefix = env.get("SYNDICATION_KEY_PREFIX", "synd:")
    if not prefix:
        raise ConfigError("SYNDICATION_KEY_PREFIX: must not be empty")
    partners_file, feeds_file = _path(env, "SYNDICATION_PARTNERS_FILE"), _path(env, "SYNDICATION_FEEDS_FILE")
    partners, feeds = load_partners(partners_file), load_feeds(feeds_file)
    hub = env.get("SYNDICATION_WEBSUB_HUB") or None
    feed_names = {f.name for f in feeds}
    for p in partners:
        unknown = sorted(set(p.filters.feeds) - feed_names)
        if unknown:
            raise ConfigError(f"partner {p.id}: filters.feeds names unknown feeds: {', '.join(unknown)}")
    return Settings(
        redis_url=env.get("SYNDICATION_REDIS_URL") or DEFAULT_REDIS_URL,
        key_prefix=prefix,
        api_keys=_keys(env.get("SYNDICATION_API_KEYS")),
        ops_keys=_keys(env.get("SYNDICATION_OPS_KEYS")),
        feed_keys=_keys(env.get("SYNDICATION_FEED_KEYS")),
        partners_file=partners_file,
        feeds_file=feeds_file,
        base_url=(env.get("SYNDICATION_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
        websub_hub=hub,
        event_redrive_after=_number(env, "SYNDICATION_EVENT_REDRIVE_AFTER", 30.0),
        render_window=_number(env, "SYNDICATION_RENDER_WINDOW", 1.0),
        partners=partners,
        feeds=feeds,
        websub_partner=Partner(id=WEBSUB_PARTNER_ID, url=hub, format="json", allow_private_network=True,
                               batch_size=20) if hub else None,
        partner_secrets={p.id: resolve_secrets(p, env) for p in partners},
    )
