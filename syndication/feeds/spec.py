"""Feed definitions: what a feed is called, what it contains, who may read it.

Feeds are data, loaded from the YAML file named by SYNDICATION_FEEDS_FILE
(see config/feeds.example.yaml). With no file configured the service serves
one feed, `all`, holding every published article.

A public feed may also have a Google News sitemap (`news_sitemap`, see
feeds/sitemap.py): the publication name Google News knows, and its language.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from syndication.filters import Filters
from syndication.settings.files import load_entries

FEED_FORMATS = ("rss", "atom", "json")


class NewsSitemap(BaseModel):
    """`<news:publication>` of the feed's news sitemap (/sitemaps/news/{feed}.xml, and /sitemaps/news.xml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Exactly as on news.google.com (Google News matches the name, not a URL).
    publication: str = Field(min_length=1, max_length=200)
    # ISO 639 (two or three letters), or zh-cn / zh-tw: what Google accepts; default: the feed's language.
    language: str | None = Field(default=None, pattern=r"^(?:[a-z]{2,3}|zh-cn|zh-tw)$")


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
    news_sitemap: NewsSitemap | None = None

    @model_validator(mode="after")
    def _sitemap_is_public(self):
        if self.news_sitemap and self.access != "public":
            raise ValueError("news_sitemap: a sitemap is public; a feed with access: partner cannot have one")
        return self

    @property
    def news_language(self) -> str:
        """`<news:language>`: the sitemap's language, else the feed's (its primary subtag, lower-cased)."""
        if self.news_sitemap and self.news_sitemap.language:
            return self.news_sitemap.language
        return self.language.split("-")[0].lower()

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
