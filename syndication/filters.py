"""Which articles a feed or a partner wants: one matching rule for both.

A filter lists accepted values per field (categories, sections, languages,
authors). An empty or absent list accepts everything; within a list any one
value is enough; across fields all must match. Comparison ignores case and
surrounding space, because newsroom taxonomies are typed by people.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def _norm(values: Any) -> set[str]:
    if values is None:
        return set()
    if isinstance(values, str):
        values = [values]
    return {str(v).strip().casefold() for v in values if str(v).strip()}


class Filters(BaseModel):
    """Accepted values per article field; empty means "any"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: list[str] = Field(default_factory=list)
    sections: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    authors: list[str] = Field(default_factory=list)

    def matches(self, article: dict[str, Any]) -> bool:
        """True when `article` (the stored article dict) passes every non-empty list."""
        checks = (
            (self.categories, article.get("categories")),
            (self.sections, article.get("section")),
            (self.languages, article.get("language")),
            (self.authors, article.get("authors")),
        )
        for wanted, have in checks:
            if wanted and not (_norm(wanted) & _norm(have)):
                return False
        return True


class PartnerFilters(Filters):
    """A partner's filters: the article fields above, plus `feeds` (the article is in one of them)."""

    feeds: list[str] = Field(default_factory=list)

    def wants(self, article: dict[str, Any], feed_specs) -> bool:
        if not self.matches(article):
            return False
        if not self.feeds:
            return True
        specs = {f.name: f for f in feed_specs}
        return any(name in specs and specs[name].filters.matches(article) for name in self.feeds)
