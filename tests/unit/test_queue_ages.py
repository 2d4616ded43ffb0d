"""The queue-age chart's hour from the samples (ops/queue_ages.py): per minute, the worst age sampled."""

from __future__ import annotations

from syndication.ops import queue_ages

NOW = 1_800_000_000.0


def sample(at: float, **partners) -> dict:
    return {"at": at, "partners": {p: list(v) for p, v in partners.items()}}


def test_each_minute_holds_the_oldest_age_it_sampled_and_none_without_a_sample():
    taken = [sample(NOW - 3600, a=(999.0, 9)),  # an hour ago exactly: the hour before, not drawn
             sample(NOW - 3590, a=(5.0, 1)), sample(NOW - 170, a=(48.0, 4)), sample(NOW - 125, a=(40.0, 3)),
             sample(NOW - 65, b=(7.0, 1)), sample(NOW - 5, a=(100.0, 2)), sample(NOW, a=(105.0, 1))]
    m = queue_ages.per_minute(taken, NOW, "a")
    assert len(m["ages"]) == len(m["waiting"]) == 60
    assert m["ages"][0] == 5.0 and m["ages"][1] is None  # no sample that minute: unknown, not 0
    assert m["ages"][-3] == 48.0 and m["waiting"][-3] == 4  # two samples in a minute: the worst, not the last
    assert m["ages"][-2] == 0.0 and m["waiting"][-2] == 0  # sampled, a's queue empty then
    assert m["ages"][-1] == 105.0 and m["worst"] == 105.0  # the minute ending now, now included


def test_the_chart_rows_are_partners_that_waited_in_the_hour_or_wait_now_worst_first():
    hours = {"a": queue_ages.per_minute([sample(NOW - 30, a=(60.0, 2))], NOW, "a"),
             "quiet": queue_ages.per_minute([sample(NOW - 30)], NOW, "quiet")}
    rows = queue_ages.chart_rows([{"id": "new", "age": 400.0, "waiting": 1}], hours)
    assert [(r["id"], r["worst"], r["waiting"]) for r in rows] == [("new", 400.0, 1), ("a", 60.0, 0)]
    assert rows[0]["ages"] == [None] * 60  # waiting now, never sampled yet: no line, only "now"
