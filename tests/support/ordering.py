"""The order of the run: tests marked `runs_last` go after every other test of the session.

Some tests judge what the rest of the run left behind (every key any process wrote in the
session Redis, every feed the hostile-input tests filled). pytest runs tests in collection
order, so the root conftest's `pytest_collection_modifyitems` hands the items to `runs_last`
below: unmarked tests keep their order, marked ones follow in ascending rank (then in
collection order). Running such a file alone still works; it then sees only its own run.
"""

from __future__ import annotations

MARKER = "runs_last"
DOC = (f"{MARKER}(rank=0): this test judges what the rest of the run left behind; it runs after every "
       "unmarked test of the session, lower ranks first (tests/support/ordering.py)")


def rank(item) -> int | None:
    """The item's rank among the tests that run last, None if it runs in collection order."""
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return None
    return int(marker.kwargs.get("rank", marker.args[0] if marker.args else 0))


def runs_last(items: list) -> list:
    """`items` reordered: unmarked first (as collected), then marked by rank (stable)."""
    ranks = [rank(item) for item in items]
    first = [item for item, r in zip(items, ranks) if r is None]
    last = sorted(((r, i) for i, r in enumerate(ranks) if r is not None))
    return first + [items[i] for _, i in last]
