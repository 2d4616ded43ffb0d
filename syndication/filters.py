"""Which articles a feed or a partner wants: one matching rule for both.

A filter lists accepted values per field (categories, sections, languages,
authors, subjects). An empty or absent list accepts everything; within a list any one
value is enough; across fields all must match. Comparison ignores case and
surrounding space, because newsroom taxonomies are typed by people.

`subjects` lists IPTC Media Topic qcodes and takes each topic *with everything
below it* (`subjects: [medtop:11000000]` takes an article tagged "election");
a qcode the vendored vocabulary does not know is refused when the file is
loaded (`syndication config check`), since nothing could ever sit below it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from syndication import subjects as topics


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
    subjects: list[Annotated[str, Field(pattern=topics.QCODE_PATTERN)]] = Field(default_factory=list)

    @field_validator("subjects")
    @classmethod
    def _known_topics(cls, qcodes: list[str]) -> list[str]:
        unknown = topics.unknown_in(qcodes)
        if unknown:
            raise ValueError(f"unknown IPTC Media Topic {', '.join(unknown)} (the vocabulary vendored in "
                             f"syndication/mediatopic.tsv does not have it)")
        return qcodes

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
        if self.subjects:
            tagged = [s.get("qcode") for s in article.get("subjects") or [] if isinstance(s, dict)]
            return topics.covers(self.subjects, tagged)
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
