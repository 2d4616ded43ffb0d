"""Settings: one frozen object built once from the environment (or a dict).

Only the composition roots (`cli.py`, `workers/app.py`) read `os.environ`;
everything else receives a `Settings`. Secrets are wrapped in `Secret` so a
stray `print(settings)` or log line never shows them.

    settings = Settings.from_env({"SYNDICATION_API_KEYS": "k1,k2"})
    settings.partners      # tuple[Partner, ...] from SYNDICATION_PARTNERS_FILE
    settings.feeds         # tuple[FeedSpec, ...] from SYNDICATION_FEEDS_FILE
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from syndication.errors import ConfigError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
WEBSUB_PARTNER_ID = "websub-hub"
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


class Secret:
    """A string that hides itself in repr/str; `.value` reveals it on purpose."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


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


@dataclass(frozen=True)
class Settings:
    redis_url: str = DEFAULT_REDIS_URL
    redis_url_configured: bool = False
    key_prefix: str = "synd:"
    api_keys: tuple[Secret, ...] = ()
    ops_keys: tuple[Secret, ...] = ()
    partners_file: Path | None = None
    feeds_file: Path | None = None
    base_url: str = "http://127.0.0.1:8000"
    websub_hub: str | None = None
    # How long an accepted event may stay unapplied before the sweeper re-drives it.
    event_redrive_after: float = 30.0
    # Minimum seconds between two renders of one feed (bursts coalesce into one).
    render_window: float = 1.0
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    partners: tuple = ()
    feeds: tuple = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from `env` (default: os.environ) and load the YAML files."""
        from syndication.feeds.spec import load_feeds
        from syndication.partners.registry import load_partners

        env = dict(os.environ if env is None else env)
        partners_file = env.get("SYNDICATION_PARTNERS_FILE") or None
        feeds_file = env.get("SYNDICATION_FEEDS_FILE") or None
        base_url = (env.get("SYNDICATION_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
        prefix = env.get("SYNDICATION_KEY_PREFIX", "synd:")
        if not prefix:
            raise ConfigError("SYNDICATION_KEY_PREFIX: must not be empty")
        settings = cls(
            redis_url=env.get("SYNDICATION_REDIS_URL") or DEFAULT_REDIS_URL,
            redis_url_configured=bool(env.get("SYNDICATION_REDIS_URL")),
            key_prefix=prefix,
            api_keys=_keys(env.get("SYNDICATION_API_KEYS")),
            ops_keys=_keys(env.get("SYNDICATION_OPS_KEYS")),
            partners_file=Path(partners_file) if partners_file else None,
            feeds_file=Path(feeds_file) if feeds_file else None,
            base_url=base_url,
            websub_hub=env.get("SYNDICATION_WEBSUB_HUB") or None,
            event_redrive_after=_number(env, "SYNDICATION_EVENT_REDRIVE_AFTER", 30.0),
            render_window=_number(env, "SYNDICATION_RENDER_WINDOW", 1.0),
            environ=env,
            partners=load_partners(Path(partners_file) if partners_file else None, env),
            feeds=load_feeds(Path(feeds_file) if feeds_file else None),
        )
        feed_names = {f.name for f in settings.feeds}
        for p in settings.partners:
            unknown = sorted(set(p.filters.feeds) - feed_names)
            if unknown:
                raise ConfigError(f"partner {p.id}: filters.feeds names unknown feeds: {', '.join(unknown)}")
        return settings

    def partner(self, partner_id: str):
        if partner_id == WEBSUB_PARTNER_ID:
            return self.websub_partner
        for p in self.partners:
            if p.id == partner_id:
                return p
        return None

    @cached_property
    def websub_partner(self):
        """The WebSub hub, pinged through the delivery machinery like a partner (retried, recorded)."""
        if not self.websub_hub:
            return None
        from syndication.partners.registry import Partner

        return Partner(id=WEBSUB_PARTNER_ID, url=self.websub_hub, format="json", allow_private_network=True,
                       batch_size=20)

    @property
    def push_targets(self) -> tuple:
        """Partners plus the WebSub hub: everything the sweeper pumps."""
        return self.partners + ((self.websub_partner,) if self.websub_hub else ())

    def feed(self, name: str):
        for f in self.feeds:
            if f.name == name:
                return f
        return None


def load_yaml(path: Path, top_key: str) -> list:
    """Read `path` and return the list under `top_key`, with errors naming the file."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get(top_key, []), list):
        raise ConfigError(f"{path}: expected a mapping with a '{top_key}:' list")
    return data.get(top_key) or []


def pydantic_problem(path: Path, index: int, item: object, exc) -> ConfigError:
    """Turn a pydantic ValidationError on list item `index` into a ConfigError naming the key."""
    name = item.get("id") or item.get("name") if isinstance(item, dict) else None
    where = f"{path}: entry {index}" + (f" ({name})" if name else "")
    msgs = [f"{'.'.join(str(p) for p in e['loc']) or '(entry)'}: {e['msg']}" for e in exc.errors()]
    return ConfigError(f"{where}: " + "; ".join(msgs))
