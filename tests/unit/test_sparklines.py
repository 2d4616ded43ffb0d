"""The last hour minute by minute (ops/sparklines.py) and its drawing (api/svg.py, templates/charts.html)."""

from __future__ import annotations

import re

from syndication.api import svg
from syndication.ops import queue_ages, sparklines
from syndication.ops.status import RECENT_KEPT

NOW = 1_800_000_000.0


def line(t: float, latency: float = 0.1, ok: bool = True) -> bytes:
    return f"{t:.3f},{latency:.4f},{int(ok)}".encode()


def test_attempts_fall_in_their_minute_oldest_first():
    recent = [line(NOW), line(NOW - 1), line(NOW - 30, ok=False), line(NOW - 61), line(NOW - 3599),
              line(NOW - 3600), line(NOW - 3601)]
    m = sparklines.per_minute(recent, NOW)
    assert len(m["attempts"]) == len(m["failures"]) == len(m["p95_ms"]) == 60
    assert m["attempts"][-1] == 3 and m["failures"][-1] == 1  # the minute ending now, now included
    assert m["attempts"][-2] == 1 and m["attempts"][0] == 1  # an hour ago exactly belongs to the hour before
    assert sum(m["attempts"]) == 5 and sum(m["failures"]) == 1 and m["complete"]
    assert m["per_second"][-1] == round(3 / 60, 3)


def test_p95_per_minute_and_none_for_a_quiet_minute():
    recent = [line(NOW - 5, latency=i / 100) for i in range(1, 21)]
    m = sparklines.per_minute(recent, NOW)
    assert m["p95_ms"][-1] == 190.0  # nearest rank of 20 values, as status.attempt_stats
    assert m["p95_ms"][0] is None


def test_a_full_list_that_starts_inside_the_hour_says_where():
    recent = [line(NOW - i) for i in range(RECENT_KEPT)]
    m = sparklines.per_minute(recent, NOW)
    assert not m["complete"] and m["covers_from"] == NOW - (RECENT_KEPT - 1)
    full_but_older = [line(NOW - 10)] * (RECENT_KEPT - 1) + [line(NOW - 4000)]
    assert sparklines.per_minute(full_but_older, NOW)["complete"]


def test_queue_ages_oldest_first_and_timeline_clipped():
    rows = sparklines.queue_ages([{"id": "a", "oldest_waiting_seconds": None, "waiting": 0},
                                  {"id": "b", "oldest_waiting_seconds": 90.0, "waiting": 3},
                                  {"id": "c", "oldest_waiting_seconds": 900.0, "waiting": 1}])
    assert [(r["id"], r["age"]) for r in rows] == [("c", 900.0), ("b", 90.0)]  # nothing waits at a
    spans = sparklines.timeline([{"partner": "a", "started_at": NOW - 500, "ended_at": None},
                                 {"partner": "b", "started_at": NOW - 9000, "ended_at": NOW - 8000},
                                 {"partner": "c", "started_at": NOW - 900, "ended_at": NOW - 800}], NOW, NOW - 1000)
    assert [(s["partner"], s["end"], s["ongoing"]) for s in spans] == [("c", NOW - 800, False), ("a", NOW, True)]


def test_only_partners_with_a_story_are_drawn():
    busy_hour = sparklines.per_minute([line(NOW - 5)], NOW)
    still = sparklines.per_minute([], NOW)
    partners = [{"id": "sent", "waiting": 0, "circuit": "closed"}, {"id": "idle", "waiting": 0, "circuit": "closed"},
                {"id": "waits", "waiting": 2, "circuit": "closed"}, {"id": "open", "waiting": 0, "circuit": "open"}]
    busy, idle = sparklines.drawn(partners, {"sent": busy_hour, "idle": still, "waits": still, "open": still})
    assert [p["id"] for p in busy] == ["sent", "waits", "open"] and idle == ["idle"]


def test_sparkline_path_scales_and_breaks_at_missing_minutes():
    d = svg.sparkline([0, 10, None, 5], width=30, height=24)
    assert d == "M0 22 L10 2 M25 12 H30"  # 0 at the bottom, the top at the top, a gap at None, a lone tick
    assert svg.sparkline([0, 0]) == f"M0 {svg.HEIGHT - svg.PAD:.0f} L{svg.WIDTH:.0f} {svg.HEIGHT - svg.PAD:.0f}"
    assert svg.sparkline([]) == ""


def test_columns_and_span():
    bars = svg.columns([0, 2, 4], width=30, height=12)
    assert [b["x"] for b in bars] == ["10", "20"] and bars[1]["height"] == "10" and bars[1]["y"] == "2"
    assert svg.span(50, 150, 0, 100, width=200) == {"x": "100", "width": "100"}
    assert svg.span(-50, 1, 0, 100, width=100)["width"] == "1"  # a short incident is still seen


def test_the_charts_render_as_svg_without_style_and_escape_partner_ids():
    from syndication.api import ops_html  # noqa: F401  (the globals the templates use)
    from syndication.api.pages import render

    m = sparklines.per_minute([line(NOW - 1, ok=False), line(NOW - 2)], NOW)
    html = render("ops/sections/charts.html", csrf=None, data={
        "at": NOW, "last_hour": {"<b>x": m},
        "queue_ages": {"<b>x": queue_ages.per_minute([{"at": NOW - 70, "partners": {"<b>x": [50.0, 2]}},
                                                      {"at": NOW - 10, "partners": {"<b>x": [110.0, 2]}}], NOW, "<b>x")},
        "status": {"partners": [{"id": "<b>x", "circuit": "open", "enabled": True, "paused": False,
                                 "consecutive_failures": 1, "oldest_waiting_seconds": 120.0, "waiting": 2}]},
        "incidents": [{"partner": "<b>x", "started_at": NOW - 600, "ended_at": None}]})
    assert "style=" not in html and "<script" not in html and "<b>x" not in html and "&lt;b&gt;x" in html
    values = re.search(r'data-series="attempts" data-values="([^"]*)"', html).group(1).split(",")
    assert len(values) == 60 and float(values[-1]) == round(2 / 60, 3)
    failures = re.search(r'data-series="failures" data-values="([^"]*)"', html).group(1).split(",")
    assert failures[-1] == "1" and failures[0] == "0"
    p95 = re.search(r'data-series="p95" data-values="([^"]*)"', html).group(1).split(",")
    assert p95[0] == "" and p95[-1] == "100.0"
    assert html.count("<svg") == 5 and 'id=queue-age' in html and 'id=incident-timeline' in html
    ages = re.search(r'data-series="queue-age" data-values="([^"]*)"', html).group(1).split(",")
    assert ages[-2:] == ["50.0", "110.0"] and ages[0] == ""  # each minute its sample; before them, none
    counts = re.search(r'data-series="attempts" data-values="[^"]*" data-counts="([^"]*)"', html).group(1)
    assert counts.split(",")[-1] == "2"
