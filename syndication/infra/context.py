"""The handles every core operation needs: the settings snapshot, a Redis client, the key builder.

Built once per process by a composition root (cli/, workers/app.py, the
API factory) and passed down; the core never reads the environment itself.

Settings are immutable snapshots (settings/model.py). A process has one published snapshot at
a time; a partners-file reload (ops/reload.py) publishes the next one, it never changes one.
`ctx.settings` is the snapshot published now; a batch that must see one configuration from
start to end pins it:

    ctx = ctx.pinned()        # this batch's snapshot, whatever is published meanwhile
    ...
    if ctx.outdated: ...      # a newer snapshot was published since (give the rest back)

Domain objects built per context (the article store) are cached here by the domain itself
(`ctx.cached`), so this module names nothing above infra.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any, Callable

from syndication.infra.keys import Keys
from syndication.infra.redis_client import connect_settings
from syndication.settings import Settings


class Published:
    """The settings snapshot a process runs now; `publish` replaces it (never edits it)."""

    def __init__(self, first: Settings):
        self._current = first
        self._lock = threading.Lock()

    @property
    def current(self) -> Settings:
        return self._current

    def publish(self, new: Settings) -> None:
        """Make `new` current. Its version must differ: the version is how a pinned batch tells."""
        with self._lock:
            if new.version == self._current.version:
                raise ValueError(f"settings version {new.version} is already published")
            if (new.key_prefix, new.redis_url) != (self._current.key_prefix, self._current.redis_url):
                raise ValueError("a reload cannot move a process to another Redis or key prefix: restart it")
            self._current = new


class Context:
    def __init__(self, settings: Settings, redis: Any, published: Published | None = None,
                 pinned: bool = False, cache: dict | None = None):
        self.redis = redis
        self.published = published or Published(settings)
        self._pinned = settings if pinned else None
        self._cache = {} if cache is None else cache  # shared by a context and its pinned views

    @classmethod
    def build(cls, settings: Settings) -> "Context":
        return cls(settings=settings, redis=connect_settings(settings))

    @property
    def settings(self) -> Settings:
        """The pinned snapshot, else the one published now."""
        return self._pinned or self.published.current

    def publish(self, new: Settings) -> None:
        self.published.publish(new)

    def pinned(self) -> "Context":
        """This context with the snapshot published now, for one batch (same Redis, keys, scripts);
        a context already pinned stays on its snapshot."""
        if self._pinned is not None:
            return self
        view = Context(self.published.current, self.redis, self.published, pinned=True, cache=self._cache)
        view.__dict__["keys"] = self.keys  # the same prefix (publish refuses another): no new Keys per batch
        return view

    @property
    def outdated(self) -> bool:
        """A pinned context whose snapshot is no longer the published one."""
        return self._pinned is not None and self._pinned.version != self.published.current.version

    def cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """One `build()` per context (and its pinned views), kept under `key`."""
        try:
            return self._cache[key]
        except KeyError:
            return self._cache.setdefault(key, build())

    def script(self, source: str):
        """A registered Lua script, cached per context (one SHA computation per process)."""
        return self.cached(("script", source), lambda: self.redis.register_script(source))

    @cached_property
    def keys(self) -> Keys:
        return Keys(self.settings.key_prefix)
