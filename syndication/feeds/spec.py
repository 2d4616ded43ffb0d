"""Feed definitions: what a feed is called, what it contains, who may read it.

Feeds are data, loaded from the YAML file named by SYNDICATION_FEEDS_FILE
(see config/feeds.example.yaml). With no file configured the service serves
one feed, `all`, holding every published article.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from syndication.filters import Filters
from syndication.settings.files import load_entries

FEED_FORMATS = ("rss", "atom", "json")


class FeedSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    title: str = ""
    description: str = ""
    language: str = "en"
    filters: Filters = Field(default_factory=Filters)
    max_items: int = Field(default=50, ge=1, le=1000)
    ttl: int = Field(default=5, ge=0, le=1440, description="minutes; RSS <ttl> and Cache-Control")
    access: Literal["public", "partner"] = "public"

    @property
    def display_title(self) -> str:
        return self.title or self.name

    @property
    def index_cap(self) -> int:
        # Keep some spare items beyond max_items so a withdrawal does not shrink the feed.
        return self.max_items + 50


DEFAULT_FEEDS = (FeedSpec(name="all", title="All news", description="Every published article"),)


def load_feeds(path: Path | None) -> tuple[FeedSpec, ...]:
    if path is None:
        return DEFAULT_FEEDS
    return load_entries(path, "feeds", FeedSpec, lambda spec: spec.name)
