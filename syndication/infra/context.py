"""The handles every core operation needs: settings, a Redis client, the key builder.

Built once per process by a composition root (cli/, workers/app.py, the
API factory) and passed down; the core never reads the environment itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from syndication.infra.keys import Keys
from syndication.infra.redis_client import connect_settings
from syndication.settings import Settings


@dataclass
class Context:
    settings: Settings
    redis: object

    @classmethod
    def build(cls, settings: Settings) -> "Context":
        return cls(settings=settings, redis=connect_settings(settings))

    def script(self, source: str):
        """A registered Lua script, cached per context (one SHA computation per process)."""
        cache = self.__dict__.setdefault("_scripts", {})
        if source not in cache:
            cache[source] = self.redis.register_script(source)
        return cache[source]

    @cached_property
    def keys(self) -> Keys:
        return Keys(self.settings.key_prefix)

    @cached_property
    def articles(self):
        from syndication.articles import ArticleStore

        return ArticleStore(self.redis, self.keys, self.settings.changelog_retention)
