"""Ops can see a failing partner and repair it: status, metrics, history, pause, and /ops in a browser."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
import requests

from tests.conftest import OPS_KEY
from tests.integration.test_cli import cli
from tests.integration.test_push import OPS, metric, post, status_is
from tests.support.browser import chromium
from tests.support.events import article_event
from tests.support.processes import ROOT, wait_for
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration


@pytest.fixture
def failing_partner(service):
    service.partners["failing"].default = Reply(503)
    yield service.partners["failing"]
    service.partners["failing"].default = Reply()


def test_status_metrics_and_history_show_a_failing_partner(service, unique, failing_partner):
    before = metric(service, "syndication_delivery_attempts_total", partner="failing", outcome="retry")
    accepted_before = metric(service, "syndication_events_accepted_total", type="article.published")
    latency_before = metric(service, "syndication_delivery_latency_seconds_count", partner="failing")
    renders_before = metric(service, "syndication_feed_renders_total", feed="all")
    aids = [f"failing{i}-{unique}" for i in range(3)]
    for aid in aids:
        post(service, article_event(aid, categories=["Failing"]))
    ctx = service.ctx
    wait_for(lambda: ctx.redis.hget(ctx.keys.partner_circuit("failing"), "state") == b"open", timeout=20,
             what="circuit open")

    out = cli("status", "--json", env=service.env)
    assert out.returncode == 0, out.stderr
    snap = json.loads(out.stdout)
    failing = next(p for p in snap["partners"] if p["id"] == "failing")
    assert failing["circuit"] == "open" and failing["waiting"] >= 3
    assert failing["failing_since"] and failing["consecutive_failures"] >= 2
    assert failing["success_rate_last_hour"] == 0.0 and failing["oldest_waiting_seconds"] > 0
    assert set(snap["queues"]) == {"events", "feeds", "deliveries"}
    workers = snap["workers"]  # heartbeats (ops/heartbeats.py): {"queues", "list"}; a ping's answers before that
    assert len(workers["list"] if "list" in workers else workers) >= 3  # events, feeds, deliveries workers
    healthy = next(p for p in snap["partners"] if p["id"] == "partner-a")
    assert healthy["circuit"] == "closed" and healthy["success_rate_last_hour"] == 1.0
    # The topology the settings decide, shown beside what runs (settings/model.py, ops/status.topology).
    assert snap["topology"]["worker_pool"] == "threads" and snap["topology"]["delivery_in_flight"] >= 1
    assert snap["topology"]["redis_pool_size"] > snap["topology"]["delivery_in_flight"]

    assert metric(service, "syndication_delivery_attempts_total", partner="failing", outcome="retry") >= before + 2
    assert metric(service, "syndication_partner_circuit_state", partner="failing", state="open") == 1
    assert metric(service, "syndication_events_accepted_total", type="article.published") >= accepted_before + 3
    assert metric(service, "syndication_delivery_latency_seconds_count", partner="failing") >= latency_before + 2
    # The three articles are in 'all': it renders again (asynchronously, after the apply).
    wait_for(lambda: metric(service, "syndication_feed_renders_total", feed="all") > renders_before,
             what="a render of 'all' counted")
    served_before = metric(service, "syndication_feed_requests_total", status="200")
    assert requests.get(f"{service.api_url}/feeds/all.rss", timeout=5).status_code == 200
    assert metric(service, "syndication_feed_requests_total", status="200") == served_before + 1

    shown = json.loads(cli("deliveries", "show", aids[0], "--json", env=service.env).stdout)
    mine = next(d for d in shown if d["partner"] == "failing")
    assert mine["attempts"] >= 1 and all(a["status"] == 503 for a in mine["attempt_log"])
    assert len(mine["attempt_log"]) == mine["attempts"]
    table = cli("deliveries", "list", "--partner", "failing", "--state", "retrying", env=service.env)
    assert table.returncode == 0 and "failing" in table.stdout


def control(service, *args):
    """`celery control ...` against the test service's workers (the broker under its key prefix)."""
    out = subprocess.run([sys.executable, "-m", "celery", "-A", "workers", "control", *args], env=service.env,
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_queue_depth_counts_messages_no_worker_has_taken(service, unique):
    """With the events worker not consuming, each accepted event waits on the queue, and the gauge says so."""
    argv = service.procs["events"].argv
    node = argv[argv.index("-n") + 1].replace("%h", socket.gethostname())  # as Celery expands it
    queued = [article_event(f"queued{i}-{unique}") for i in range(3)]
    try:
        stopped = control(service, "cancel_consumer", "events", "-d", node)
        assert f"{node}: OK" in stopped and "no longer consuming from events" in stopped, stopped
        for ev in queued:
            post(service, ev)
        depth = metric(service, "syndication_queue_depth", queue="events")
        snap = json.loads(cli("status", "--json", env=service.env).stdout)
    finally:
        resumed = control(service, "add_consumer", "events", "-d", node)
        assert f"{node}: OK" in resumed, resumed
    # One apply batch is queued for all three (events are applied in batches); they wait in pending.
    assert depth == 1 and snap["queues"]["events"] == 1, (depth, snap["queues"])
    assert snap["events_pending"] >= len(queued), snap
    for ev in queued:  # consumed again: the queue drains and every event is applied
        wait_for(lambda ev=ev: requests.get(f"{service.api_url}/v1/articles/{ev['article']['id']}", timeout=5).ok,
                 what=f"{ev['article']['id']} applied after the consumer came back")
    wait_for(lambda: metric(service, "syndication_queue_depth", queue="events") == 0, what="events queue drained")


def test_rejected_events_are_counted(service):
    before = metric(service, "syndication_events_rejected_total", reason="invalid")
    requests.post(f"{service.api_url}/v1/events", data=b"{", headers=service.headers(), timeout=5)
    assert metric(service, "syndication_events_rejected_total", reason="invalid") == before + 1


def test_ops_page_needs_a_key(service):
    assert requests.get(f"{service.api_url}/ops", timeout=5).status_code == 401
    page = requests.get(f"{service.api_url}/ops", headers=OPS, timeout=5)
    assert page.status_code == 200 and "Partners" in page.text and "Dead letters" in page.text
    bad = requests.post(f"{service.api_url}/ops/login", data={"key": "nope"}, timeout=5, allow_redirects=False)
    assert bad.status_code == 401


def test_browser_replays_a_dead_letter_from_the_ops_page(service, unique, tmp_path, failing_partner):
    from playwright.sync_api import sync_playwright

    aid = f"opsdead-{unique}"
    partner = service.partners["opsdead"]
    partner.script([Reply(400, body=b'{"error":"schema"}')])
    post(service, article_event(aid, categories=["OpsDead"]))
    dead = wait_for(lambda: status_is(service, aid, "opsdead", "dead"), what="dead letter")
    post(service, article_event(f"failing-shot-{unique}", categories=["Failing"]))  # a failing partner on screen
    with sync_playwright() as pw:
        browser = chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{service.api_url}/ops")
            page.fill("input[name=key]", OPS_KEY)
            page.click("text=Sign in")
            page.wait_for_selector("text=Dead letters")
            page.screenshot(path=str(tmp_path / "ops.png"), full_page=True)
            row = page.locator("#dead-letters tr", has_text=dead["id"])
            page.once("dialog", lambda dialog: dialog.accept())  # "Send delivery ... again now?"
            row.locator("button[name=replay]").click()
            page.wait_for_selector(f"text=replayed {dead['id']}")
            page.fill("input[name=article]", aid)
            page.click("text=Search")
            page.wait_for_selector(f"text=Deliveries of {aid}")
        finally:
            browser.close()
    assert (tmp_path / "ops.png").stat().st_size > 10_000
    wait_for(lambda: status_is(service, aid, "opsdead", "delivered"), what="replayed delivery delivered")
    reqs = partner.for_article(aid)
    assert len(reqs) == 2 and reqs[0].webhook_id == reqs[1].webhook_id == dead["id"]
    print(f"\nops screenshot: {tmp_path / 'ops.png'}")


def test_flower_sees_our_workers(service, tmp_path):
    """Flower, started as in docker-compose, lists the three workers (task events are on)."""
    from tests.support.processes import Proc, free_port

    port = free_port()
    env = {**service.env, "FLOWER_UNAUTHENTICATED_API": "true"}
    flower = Proc("flower", [sys.executable, "-m", "celery", "-A", "workers", "flower", "--address=127.0.0.1",
                             f"--port={port}"], env, tmp_path, url=f"http://127.0.0.1:{port}/healthcheck")
    flower.start()
    try:
        workers = wait_for(lambda: (r := requests.get(f"http://127.0.0.1:{port}/api/workers?refresh=1",
                                                      timeout=10)).ok and len(r.json()) >= 3 and r.json(),
                           timeout=30, what="flower lists the workers")
        queues = {q["name"] for w in workers.values() for q in w.get("active_queues", [])}
        assert {"events", "feeds", "deliveries"} <= queues
    finally:
        flower.stop()
