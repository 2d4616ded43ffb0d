"""The sparklines of /ops and the portal count what /metrics counts: after a known run of pushes to
one partner (some failing, then delivered), the sum of its per-minute attempts and failures moved
exactly as syndication_delivery_attempts_total did for that partner."""

from __future__ import annotations

import re

import pytest
import requests

from tests.integration.test_push import OPS, metric, post, status_is
from tests.support.events import article_event
from tests.support.portal import TOKEN_A, dead_letter, portal_login
from tests.support.processes import wait_for
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration
FAILED = ("retry", "dead", "parked")  # series.DELIVERY_RESULTS that are not "delivered"


def hour_of(html: str, partner: str) -> dict[str, list[str]]:
    """The numbers behind a partner's sparklines, as the page carries them (templates/charts.html)."""
    block = re.search(rf'<div class=sparks data-partner="{re.escape(partner)}">(.*?)</div>', html, re.S)
    if block is None:  # a quiet partner is named, not drawn: its hour is all zeros
        idle = re.search(r"<p class=muted id=idle-partners>[^:]*: ([^<]*)\.</p>", html)
        assert idle and partner in idle.group(1).split(", "), f"no sparklines for {partner}"
        return {"counts": ["0"] * 60, "failures": ["0"] * 60, "p95": [""] * 60}
    series = dict(re.findall(r'data-series="(\w+)" data-values="([^"]*)"', block.group(1)))
    counts = re.search(r'data-counts="([^"]*)"', block.group(1)).group(1)
    return {**{k: v.split(",") for k, v in series.items()}, "counts": counts.split(",")}


def ops_hour(service, partner: str) -> tuple[int, int]:
    resp = requests.get(f"{service.api_url}/ops/state.json", headers=OPS, timeout=10)
    assert resp.status_code == 200, resp.text
    hour = hour_of(resp.json()["sections"]["charts"], partner)
    assert len(hour["counts"]) == len(hour["failures"]) == len(hour["p95"]) == 60
    return sum(map(int, hour["counts"])), sum(map(int, hour["failures"]))


def counters(service, partner: str) -> tuple[float, float]:
    attempts = metric(service, "syndication_delivery_attempts_total", partner=partner)
    failed = sum(metric(service, "syndication_delivery_attempts_total", partner=partner, outcome=o) for o in FAILED)
    return attempts, failed


def test_ops_sparklines_add_up_to_the_delivery_counters(service, unique):
    flaky = service.partners["flaky"]
    spark_before, metrics_before = ops_hour(service, "flaky"), counters(service, "flaky")
    flaky.script([503, 500, 503])  # three failures, then the default 200s
    aids = [f"spark{i}-{unique}" for i in range(4)]
    try:
        for aid in aids:
            post(service, article_event(aid, categories=["Flaky"]))
        for aid in aids:
            wait_for(lambda aid=aid: status_is(service, aid, "flaky", "delivered"), timeout=30, what=f"{aid} delivered")
    finally:
        flaky.script([])
        flaky.default = Reply()
    spark_after, metrics_after = ops_hour(service, "flaky"), counters(service, "flaky")
    spark = (spark_after[0] - spark_before[0], spark_after[1] - spark_before[1])
    counted = (metrics_after[0] - metrics_before[0], metrics_after[1] - metrics_before[1])
    assert spark == counted == (7, 3), (spark, counted)  # 4 delivered + 3 failed attempts


def test_the_portal_draws_the_same_hour_as_ops(service, unique):
    before = counters(service, "portal-a")
    dead_letter(service, "portal-a", "PortalA", f"spark-portal-{unique}")  # two failed attempts
    s = portal_login(service, TOKEN_A)
    page = s.get(f"{service.api_url}/portal/state.json", timeout=10)
    assert page.status_code == 200, page.text
    portal = hour_of(page.json()["sections"]["health"], "portal-a")
    attempts, failed = counters(service, "portal-a")
    assert sum(map(int, portal["counts"])) == attempts and sum(map(int, portal["failures"])) == failed
    assert ops_hour(service, "portal-a") == (attempts, failed)
    assert (attempts - before[0], failed - before[1]) == (2, 2)
