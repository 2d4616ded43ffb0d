"""Metrics and alerts, judged by Prometheus's own tool (promtool) against the real service.

- config/prometheus/alerts.yml passes `promtool check rules`, and its unit tests
  (config/prometheus/alerts_test.yml: each alert fires when it should, for whom it should,
  not before) pass `promtool test rules`;
- a live `/metrics` scrape passes `promtool check metrics` (Prometheus naming and typing rules);
- the first scrape of a fresh service already has every series, at 0: each (partner, outcome)
  of delivery attempts, every partner's gauges, one circuit series per state, every queue's
  workers, the sweeper, Redis memory; so `increase()` sees a partner's first dead letter;
- every metric the alert rules and the Grafana dashboard read is in that scrape;
- "partner failing" fires for a live failing partner whose state lasts 10 minutes, and not for
  a healthy one (tests/support/promtool.py runs the rule in promtool on the scrape).

promtool comes from Debian's `prometheus` package (.ci/run installs it); without it these skip.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from syndication.infra.keys import QUEUES
from syndication.ops.series import DELIVERY_RESULTS
from tests.integration.test_push import post
from tests.support import promtool
from tests.support.events import article_event
from tests.support.processes import ROOT, api, free_port, wait_for
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration

ALERTS = ROOT / "config" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "config" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "config" / "grafana" / "syndication.json"


def scrape(url: str) -> str:
    resp = requests.get(f"{url}/metrics", timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.text


@functools.lru_cache(maxsize=8)  # one parse per scrape: a test looks up hundreds of samples in one text
def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


@pytest.fixture(scope="module")
def fresh_api(service, tmp_path_factory):
    """A real API process on its own key prefix of the session's throwaway Redis: nothing has happened."""
    port = free_port()
    env = {**service.env, "SYNDICATION_KEY_PREFIX": f"m{uuid.uuid4().hex[:6]}:",
           "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}"}
    proc = api(env, tmp_path_factory.mktemp("fresh-api"), port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


def test_alert_rules_pass_promtool_check_and_their_unit_tests():
    checked = promtool.run("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout
    tested = promtool.run("test", "rules", str(ALERT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_severity_and_names_what_it_is_about():
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
            about = re.search(r"by \((partner|queue)\)", rule["expr"])
            if about:  # per partner or per queue: both texts say which one
                for text in rule["annotations"].values():
                    assert f"$labels.{about.group(1)}" in text, (rule["alert"], text)


def test_live_scrape_passes_promtool_check_metrics(service, fresh_api):
    for url in (service.api_url, fresh_api):
        complaints = promtool.check_metrics(scrape(url))
        assert not complaints, f"{url}/metrics:\n{complaints}"


def test_every_series_is_in_the_first_scrape_at_zero(service, fresh_api):
    text = scrape(fresh_api)
    settings = service.ctx.settings
    partners = [p.id for p in settings.targets]
    assert "ops-webhook" in partners or settings.ops_webhook_target is None
    for pid in partners:
        for outcome in DELIVERY_RESULTS:
            assert value(text, "syndication_delivery_attempts_total", partner=pid, outcome=outcome) == 0, (pid, outcome)
        for counter in ("syndication_retries_scheduled_total", "syndication_dead_letters_total"):
            assert value(text, counter, partner=pid) == 0, (counter, pid)
        assert value(text, "syndication_delivery_latency_seconds_count", partner=pid) == 0
        assert value(text, "syndication_delivery_latency_seconds_bucket", partner=pid, le="+Inf") == 0
        states = {s: value(text, "syndication_partner_circuit_state", partner=pid, state=s)
                  for s in ("closed", "half_open", "open")}
        assert states == {"closed": 1, "half_open": 0, "open": 0}, (pid, states)
        for gauge in ("oldest_waiting_seconds", "consecutive_failures", "last_success_timestamp_seconds",
                      "failing_since_timestamp_seconds", "waiting", "retrying", "in_flight", "paused"):
            assert value(text, f"syndication_partner_{gauge}", partner=pid) == 0, (gauge, pid)
        assert value(text, "syndication_partner_enabled", partner=pid) == 1, pid
    for event_type in ("article.published", "article.updated", "article.withdrawn"):
        assert value(text, "syndication_events_accepted_total", type=event_type) == 0
    for reason in ("unauthorized", "invalid", "body_too_large", "unsupported_media_type"):
        assert value(text, "syndication_events_rejected_total", reason=reason) == 0
    for feed in (f.name for f in settings.feeds):
        assert value(text, "syndication_feed_renders_total", feed=feed) == 0
        assert value(text, "syndication_feed_render_seconds_count", feed=feed) == 0
    assert value(text, "syndication_sweeps_total", outcome="ran") == 0
    assert value(text, "syndication_events_failed_total", outcome="dead") == 0
    assert value(text, "syndication_feed_requests_total", status="200") == 0
    for queue in QUEUES:  # no worker runs under this prefix: none online, and it says so
        assert value(text, "syndication_workers_online", queue=queue) == 0
        assert value(text, "syndication_workers_missing", queue=queue) == 0
    assert value(text, "syndication_sweeper_last_run_timestamp_seconds") == 0
    assert value(text, "syndication_dead_letters_waiting") == 0
    assert value(text, "syndication_dead_events") == 0
    assert value(text, "syndication_redis_used_memory_bytes") > 0
    assert value(text, "syndication_redis_maxmemory_bytes") is not None


def test_the_running_service_reports_its_workers_and_sweeper(service):
    def live():
        text = scrape(service.api_url)
        return text if all(value(text, "syndication_workers_online", queue=q) >= 1 for q in QUEUES) else None

    text = wait_for(live, timeout=20, what="a worker online on every queue")
    swept = value(text, "syndication_sweeper_last_run_timestamp_seconds")
    # A sweep may land while the scrape is read (its timestamp is taken first): a second either way.
    assert -1 < value(text, "syndication_scrape_timestamp_seconds") - swept < 30


def metric_names(text: str) -> set[str]:
    return set(re.findall(r"\bsyndication_[a-z0-9_]+", text))


def test_alerts_and_dashboard_read_only_metrics_the_service_exposes(fresh_api):
    exposed = {name for name, _ in samples(scrape(fresh_api))}
    rules = [r["expr"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v.get("query", {}).get("query", "") if isinstance(v.get("query"), dict) else v.get("query", "")
              for v in dashboard["templating"]["list"]]
    for source, texts in (("alerts.yml", rules), ("dashboard", exprs)):
        unknown = metric_names("\n".join(texts)) - exposed
        assert not unknown, f"{source} reads metrics /metrics does not have: {sorted(unknown)}"
    assert metric_names("\n".join(rules)) and len(exprs) >= 8


def test_dashboard_asks_for_its_prometheus_datasource():
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        if panel.get("type") == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("attempts", "oldest waiting", "circuit", "workers online", "dead letters", "latency",
                  "events accepted"):
        assert topic in titles, topic


@pytest.fixture
def alerting_partner(service):
    """A partner of this test's own that answers 503 (its circuit opens, for 10 minutes: no one else's)."""
    service.partners["alerting"].default = Reply(503)
    yield "alerting"
    service.partners["alerting"].default = Reply()


def test_partner_failing_alert_fires_for_a_failing_partner_not_a_healthy_one(service, unique, alerting_partner):
    failing = alerting_partner
    post(service, article_event(f"alerting-{unique}", categories=["Alerting"]))

    def failed():  # the circuit and the counters are written by separate steps of a push: wait for both
        text = scrape(service.api_url)
        return text if (value(text, "syndication_partner_consecutive_failures", partner=failing) > 0 and
                        value(text, "syndication_delivery_attempts_total", partner=failing, outcome="retry") >= 1
                        and value(text, "syndication_partner_consecutive_failures", partner="partner-a") == 0
                        ) else None

    text = wait_for(failed, timeout=20, what="the failing partner's failures (and a healthy partner-a) on /metrics")
    assert value(text, "syndication_partner_failing_since_timestamp_seconds", partner=failing) > 0

    assert promtool.alert_fires("SyndicationPartnerFailing", text, {"partner": failing}, after=600)
    assert not promtool.alert_fires("SyndicationPartnerFailing", text, {"partner": "partner-a"}, after=3600)
    # Ten minutes is the rule: the same state a minute on is not (yet) an alert.
    assert not promtool.alert_fires("SyndicationPartnerFailing", text, {"partner": failing}, after=60)
