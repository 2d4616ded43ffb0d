"""The /ops templates, rendered from hand-made data: every section, every value hostile.

The browser tests run the page against a real outage; these check what the templates can get
wrong by themselves, fast: that whatever a partner or publisher controls comes out as text,
that no inline script, style or event handler slips into the HTML (the CSP would block it, and
the page would break in the browser), and that a misspelt name fails instead of rendering empty.
"""

from __future__ import annotations

from html.parser import HTMLParser

import jinja2
import pytest

from syndication.api import ops_html
from syndication.api.ops_state import View
from syndication.api.pages import render
from syndication.ops import queue_ages, sparklines

EVIL = "<script>alert(1)</script>\"' onmouseover=alert(2) <b>x</b>"
NOW = 1_800_000_000.0


def delivery(status: str) -> dict:
    return {"id": f"msg_{status}/{EVIL}", "partner": EVIL, "article_id": EVIL, "version": 2, "status": status,
            "attempts": 3, "updated_at": NOW - 60, "last_error": EVIL, "last_status": 503}


def partner(circuit: str, **extra) -> dict:
    return {"id": f"p-{circuit}{EVIL}", "enabled": True, "paused": False, "circuit": circuit, "failing_since": NOW,
            "consecutive_failures": 0, "last_status": 503, "last_error": EVIL, "waiting": 1, "retrying": 0,
            "scheduled_retries": 0, "oldest_waiting_seconds": 90, "last_success_at": None, "disabled": False,
            "disabled_reason": EVIL, "success_rate_last_hour": 0.5, "p95_latency_ms_last_hour": 120.0, **extra}


def data() -> dict:
    return {
        "at": NOW, "view": View(article=EVIL, delivery=EVIL, note=EVIL),
        "status": {"partners": [partner("closed"), partner("open", consecutive_failures=4)],
                   "queues": {"deliveries": 3}, "unacked": 1, "events_pending": 2, "dead_letters": 1,
                   "dead_events": 1,
                   "workers": {"queues": {"deliveries": {"online": [EVIL], "missing": [EVIL]}},
                               "list": [{"name": EVIL, "queues": [EVIL], "host": EVIL, "pid": 7, "online": False,
                                         "last_seen": NOW - 30}]}},
        "problems": [{"severity": "critical", "what": "partner:x", "text": EVIL},
                     {"severity": "warning", "what": "dead_letters", "text": EVIL}],
        "dead_by_partner": {f"p-open{EVIL}": 2},
        "last_hour": {f"p-{c}{EVIL}": sparklines.per_minute([f"{NOW - 5},0.2,0"], NOW) for c in ("closed", "open")},
        "queue_ages": {f"p-open{EVIL}": queue_ages.per_minute(
            [{"at": NOW - 5, "partners": {f"p-open{EVIL}": [30.0, 2]}}], NOW, f"p-open{EVIL}")},
        "incidents": [{"partner": EVIL, "started_at": NOW - 600, "opened_at": NOW - 500, "ended_at": None,
                       "affected": 4, "last_error": EVIL}],
        "failures": [delivery("retrying"), delivery("delivered")],
        "dead_letters": [delivery("dead")],
        "dead_events": [{"event_id": EVIL, "type": EVIL, "article_id": EVIL, "version": 1, "failures": 5,
                         "last_error": EVIL}],
        "audit": [{"at": NOW, "actor": EVIL, "action": "pause", "target": EVIL, "count": EVIL}],
        "article": [delivery("parked")],
        "delivery": {"record": delivery("dead"), "attempts": [
            {"n": 1, "at": NOW, "status": 503, "latency_ms": 12.5, "outcome": "retry", "error": EVIL,
             "response": EVIL}]},
    }


@pytest.fixture(scope="module")
def sections() -> dict[str, str]:
    return ops_html.sections(data(), csrf="tok\"en<")


def test_every_section_renders_and_escapes_what_others_control(sections):
    assert set(sections) == set(ops_html.SECTIONS)
    whole = "".join(sections.values())
    assert "<script" not in whole.lower() and "<b>x</b>" not in whole
    assert whole.count("&lt;script&gt;alert(1)&lt;/script&gt;") > 20
    assert "value='tok&#34;en&lt;'" in whole  # the CSRF token, an attribute value, quoted and escaped


class Tags(HTMLParser):
    """Every start tag with its attributes, as a browser would read them."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def inline_code(html: str) -> list:
    """What the CSP would block: an on*= handler, a style attribute or element, an inline script, a javascript: URL."""
    return [(tag, attrs) for tag, attrs in Tags(html).found
            if tag == "style" or (tag == "script" and "src" not in attrs)
            or any(a.startswith("on") or a == "style" or (v or "").strip().lower().startswith("javascript:")
                   for a, v in attrs.items())]


def test_no_inline_handler_or_style_reaches_the_html(sections):
    whole = "".join(sections.values())
    assert len(Tags(whole).found) > 100
    assert not inline_code(whole)
    assert inline_code("<b onclick=x>") and inline_code("<p style='color:red'>") and inline_code("<script>x</script>")


def test_ids_are_one_path_segment_in_action_urls(sections):
    # A delivery id with '/' in it must stay one segment of /ops/replay/{id}.
    assert "/ops/replay/msg_retrying%2F%3Cscript%3E" in sections["failures"]
    assert "/ops/discard/msg_dead%2F" in sections["dead-letters"]
    assert 'data-confirm="Discard dead letter msg_dead/&lt;script&gt;' in sections["dead-letters"]


def test_partners_in_trouble_come_first_with_their_actions(sections):
    rows = sections["partners"].split("<tr>")[2:]
    assert "p-open" in rows[0] and "p-closed" in rows[1]
    assert 'name="replay-all"' in rows[0] and "Replay 2 dead" in rows[0]
    assert 'name="pause"' in rows[0] and 'name="resume"' not in rows[0]
    assert "50%" in rows[0] and "120 ms" in rows[0] and "HTTP 503: &lt;script&gt;" in rows[0]


def test_replay_is_offered_only_where_it_makes_sense(sections):
    failures = sections["failures"].split("<tr>")[2:]
    assert 'name="replay"' in failures[0]  # retrying
    assert 'name="replay"' not in failures[1]  # delivered: finished


def test_a_misspelt_name_is_an_error_not_an_empty_cell():
    with pytest.raises(jinja2.UndefinedError):
        render("ops/sections/dead_letters.html", data={"status": {}, "dead_letters": []}, csrf=None)


def test_a_non_editable_install_carries_every_template_and_static_file():
    """pyproject's package-data globs cover every file the pages load (a wheel has nothing else)."""
    import tomllib
    from pathlib import Path

    from syndication.api import pages

    root = Path(pages.__file__).parent
    globs = tomllib.loads((root.parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    packaged = {f for g in globs["syndication.api"] for f in root.glob(g) if f.is_file()}
    served = {f for d in (pages.TEMPLATES_DIR, pages.STATIC_DIR) for f in d.rglob("*") if f.is_file()}
    assert served and served <= packaged, sorted(str(f.relative_to(root)) for f in served - packaged)
