"""Every key written during the test run is a documented key family (infra/keys.py FAMILIES).

The census runs after every other test of the session (marked `runs_last` with the
highest rank, tests/support/ordering.py), against the session's throwaway Redis (with
pytest-xdist, every worker's: tests/support/parallel.py), so it sees every key the real
API, workers and beat wrote while the suite exercised them, the W3C check's included:
an undocumented key, a wrong type, or a hash field the table does not list fails.
"""

from __future__ import annotations

import re

import pytest

from syndication.infra.keys import FAMILIES, Family
from tests.support import parallel

pytestmark = pytest.mark.integration


def _regex(family: Family) -> re.Pattern:
    # Ids are key_part-encoded, so they hold no ':'; Celery's own keys may hold anything.
    parts = re.split(r"(\{[a-z_]+\})", family.pattern)
    body = "".join(("(.+)" if p == "{celery_key}" else "[^:]+") if p.startswith("{") else re.escape(p)
                   for p in parts)
    return re.compile(f"^{body}$")


MATCHERS = [(f, _regex(f)) for f in FAMILIES]


def family_of(key: str) -> Family | None:
    found = [f for f, rx in MATCHERS if rx.match(key)]
    # The most specific pattern wins (feed:{name}:stats over feed:{name}:{fmt}).
    return max(found, key=lambda f: len(f.pattern.replace("{", "").split(":")) * 100 - f.pattern.count("{"),
               default=None)


def test_the_matcher_can_fail():
    assert family_of("feed:all:stats").pattern == "feed:{name}:stats"
    assert family_of("feed:all:rss").pattern == "feed:{name}:{fmt}"
    assert family_of("article:X%3Adeliveries").pattern == "article:{article_id}"
    assert family_of("nosuch:thing") is None


@pytest.mark.runs_last(rank=1)  # after the W3C check of the served feeds (rank 0) too
def test_every_key_written_is_documented(service, request):
    # On xdist, the other workers' Redis servers too, as they stood when each worker finished.
    records = parallel.snapshot(service.ctx.redis) + parallel.other_workers_snapshots(request.config)
    undocumented, wrong_type, unknown_fields, seen = [], [], [], set()
    for key, kind, fields in records:
        _, _, rest = key.partition(":")  # every test prefix is one word and a colon
        family = family_of(rest)
        if family is None:
            undocumented.append(key)
            continue
        seen.add(family.pattern)
        if kind == "none":
            continue  # expired between SCAN and TYPE (a lock with a short TTL)
        if family.type != "any" and kind != family.type:
            wrong_type.append(f"{key}: {kind}, documented as {family.type}")
        if kind == "hash" and family.fields is not None:
            extra = set(fields) - set(family.fields)
            if extra:
                unknown_fields.append(f"{key}: {sorted(extra)}")
    assert not undocumented, f"keys of no documented family: {sorted(undocumented)[:20]}"
    assert not wrong_type, wrong_type[:20]
    assert not unknown_fields, f"hash fields the table does not list: {unknown_fields[:20]}"
    assert len(seen) >= 20, f"the suite wrote too few families to say much: {sorted(seen)}"
