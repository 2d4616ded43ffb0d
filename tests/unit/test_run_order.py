"""Tests marked `runs_last` run after every other test, by rank (tests/support/ordering.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support.ordering import rank, runs_last


@dataclass
class Item:
    name: str
    marker: object = None

    def get_closest_marker(self, name):
        return self.marker if name == "runs_last" else None


def test_marked_tests_go_last_by_rank_and_the_rest_keep_their_order():
    items = [Item("census", pytest.mark.runs_last(rank=1).mark), Item("a"),
             Item("w3c-feeds", pytest.mark.runs_last.mark), Item("b"),
             Item("w3c-pushes", pytest.mark.runs_last(0).mark), Item("c")]
    assert [i.name for i in runs_last(items)] == ["a", "b", "c", "w3c-feeds", "w3c-pushes", "census"]


def test_the_session_runs_nothing_unmarked_after_a_marked_test(request):
    """The hook is installed: in this very session, the marked tests are the tail, by rank."""
    ranks = [rank(item) for item in request.session.items]
    marked = [i for i, r in enumerate(ranks) if r is not None]
    if not marked:
        pytest.skip("no test marked runs_last in this run")
    tail = ranks[marked[0]:]
    assert None not in tail and tail == sorted(tail), tail
