"""`syndication status` and `status --check` judge the service the way an on-call engineer would.

Each test runs the real CLI as a subprocess against a Redis of this module's own
(`--maxmemory` with `noeviction`, as production should run it, so a healthy
service really checks OK) and a key prefix of its own. The state it judges is
written the way the service writes it: pushes to a real partner server
(push.push_batch records circuit, retries and dead letters), a batch's claim
(push.begin puts deliveries in flight), worker heartbeats (ops/heartbeats.beat)
and the sweeper's last run.

--check follows the monitoring-plugin convention: one line, exit 0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN (Redis unreachable).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from syndication.configuration import load_settings
from syndication.delivery import push, records
from syndication.delivery.model import ARTICLE, Subject
from syndication.infra.context import Context
from syndication.infra.keys import QUEUES
from syndication.ops import heartbeats
from tests.support.pipeline import due_delivery
from tests.support.processes import free_port, redis_server
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration

# Retries far apart: a failed delivery stays a scheduled retry for the whole test.
SLOW_RETRY = {"base_delay": 600, "max_delay": 600}
PARTNERS = {
    "kazinform": {"breaker_threshold": 1, "retry": SLOW_RETRY},  # one failure opens its circuit
    "slowpoke": {"breaker_threshold": 100, "retry": {"base_delay": 1, "max_delay": 1}},
    "wobbly": {"breaker_threshold": 100, "retry": SLOW_RETRY},
}


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    proc = redis_server(tmp_path_factory.mktemp("status-redis"), name="status-redis")
    proc.argv += ["--maxmemory", "256mb", "--maxmemory-policy", "noeviction"]
    proc.start()
    yield f"redis://127.0.0.1:{proc.port}/0"
    proc.stop()


class Deployment:
    def __init__(self, env: dict):
        self.env = env
        self.ctx = Context.build(load_settings(env))

    def cli(self, *args, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "syndication.cli", "status", *args], capture_output=True,
                              text=True, env={**self.env, "COLUMNS": "250", **(env or {})}, timeout=60)

    def healthy(self) -> None:
        """What a running service keeps writing: a heartbeat per queue's worker, a fresh sweep."""
        now = time.time()
        for q in QUEUES:
            heartbeats.beat(self.ctx, f"{q}-1@host", [q], now - 60, now)
        self.ctx.redis.set(self.ctx.keys.sweeper_last_run, now)

    def check(self) -> tuple[int, str]:
        out = self.cli("--check")
        assert out.stdout.count("\n") == 1, out.stdout + out.stderr  # one line, for cron and Nagios
        return out.returncode, out.stdout.strip()

    def snapshot(self) -> dict:
        out = self.cli("--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)


@pytest.fixture
def deployment(own_redis, tmp_path, receiver) -> Deployment:
    partners = [{"id": pid, "url": receiver.url, "format": "json", "allow_private_network": True, **spec}
                for pid, spec in PARTNERS.items()]
    (tmp_path / "partners.yaml").write_text(yaml.safe_dump({"partners": partners}))
    (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": [{"name": "all", "title": "All"}]}))
    return Deployment({
        "PATH": "/usr/bin:/bin",
        "SYNDICATION_REDIS_URL": own_redis,
        "SYNDICATION_KEY_PREFIX": f"s{uuid.uuid4().hex[:6]}:",
        "SYNDICATION_PARTNERS_FILE": str(tmp_path / "partners.yaml"),
        "SYNDICATION_FEEDS_FILE": str(tmp_path / "feeds.yaml"),
    })


def partner(snap: dict, pid: str) -> dict:
    return next(p for p in snap["partners"] if p["id"] == pid)


def test_a_healthy_service_checks_ok_and_exits_0(deployment, receiver):
    deployment.healthy()
    due_delivery(deployment.ctx, "wobbly", "fine-1")
    assert push.push_batch(deployment.ctx, "wobbly").outcomes == {"delivered": 1}
    code, line = deployment.check()
    assert (code, line[:5]) == (0, "OK - "), line
    shown = deployment.cli()
    assert shown.returncode == 0 and "problems: none" in shown.stdout, shown.stdout
    assert re.search(r"events 1/1 online .*feeds 1/1 online .*deliveries 1/1 online", shown.stdout), shown.stdout


def test_a_failing_partner_is_critical_named_with_why_and_exits_2(deployment, receiver):
    deployment.healthy()
    ctx = deployment.ctx
    receiver.default = Reply(503, body=b"Service Unavailable")
    due_delivery(ctx, "kazinform", "outage-1")
    assert push.push_batch(ctx, "kazinform").outcomes == {"retry": 1}  # one failure opens its circuit
    code, line = deployment.check()
    assert code == 2, line
    assert re.match(r"CRITICAL - partner kazinform circuit open, failing since \d\d:\d\d:\d\dZ "
                    r"\(HTTP 503: Service Unavailable\)", line), line
    snap = deployment.snapshot()
    kaz = partner(snap, "kazinform")
    assert (kaz["circuit"], kaz["last_status"], kaz["retrying"], kaz["waiting"]) == ("open", 503, 1, 1)
    assert kaz["last_failure_at"] and kaz["last_failure_at"] >= kaz["failing_since"]
    assert {"severity": "critical", "what": "partner:kazinform"} in [
        {k: p[k] for k in ("severity", "what")} for p in snap["problems"]]
    shown = deployment.cli()
    assert shown.returncode == 0, shown.stderr  # the screen reports; only --check judges
    assert re.search(r"kazinform .*open .*HTTP 503", shown.stdout), shown.stdout
    assert "CRITICAL partner kazinform circuit open" in shown.stdout
    # Times carry their zone: the screen's clock and the partner's "failing since".
    assert re.search(r"queues at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", shown.stdout), shown.stdout
    assert re.search(r"kazinform .*\d\d:\d\d:\d\d [A-Z][A-Za-z+\-0-9]+ \(", shown.stdout), shown.stdout


def test_failing_for_minutes_with_a_closed_circuit_is_critical_a_fresh_failure_a_warning(deployment, receiver):
    deployment.healthy()
    ctx = deployment.ctx
    receiver.default = Reply(503)
    t0 = time.time()
    long_ago = t0 - 400
    records.create(ctx, "slowpoke", Subject(ARTICLE, "late-1", 1), "evt-late-1", "article.published", now=long_ago)
    due_delivery(ctx, "wobbly", "wobble-1")
    # slowpoke began failing 400 s ago (its circuit stays closed); wobbly failed just now.
    assert push.push_batch(ctx, "slowpoke", clock=lambda: long_ago).outcomes == {"retry": 1}
    assert push.push_batch(ctx, "wobbly").outcomes == {"retry": 1}
    code, line = deployment.check()
    assert code == 2, line
    assert re.match(r"CRITICAL - partner slowpoke failing since \d\d:\d\d:\d\dZ", line), line
    assert "partner wobbly retrying after 1 failure(s)" in line
    snap = deployment.snapshot()
    slow = partner(snap, "slowpoke")
    assert slow["circuit"] == "closed" and slow["retrying"] == 1 and slow["scheduled_retries"] == 0  # due again
    assert slow["oldest_waiting_seconds"] >= 399

    ctx.redis.hdel(ctx.keys.partner_circuit("slowpoke"), "failing_since")
    ctx.redis.hset(ctx.keys.partner_circuit("slowpoke"), mapping={"failures": 0})
    ctx.redis.delete(ctx.keys.partner_due("slowpoke"))
    code, line = deployment.check()
    assert code == 1 and line.startswith("WARNING - partner wobbly retrying after 1 failure(s)"), line


def test_a_delivery_claimed_by_a_batch_counts_as_waiting(deployment, receiver):
    deployment.healthy()
    ctx = deployment.ctx
    created = time.time() - 120
    did = records.create(ctx, "wobbly", Subject(ARTICLE, "claimed-1", 1), "evt-claimed-1", "article.published",
                         now=created)
    _, claimed = push.begin(ctx, ctx.settings.target("wobbly"), "slot-test", time.time())
    assert claimed == [did]  # in flight: out of the due set, as while a slow partner answers
    wob = partner(deployment.snapshot(), "wobbly")
    assert (wob["ready"], wob["in_flight"], wob["waiting"], wob["retrying"]) == (0, 1, 1, 0)
    assert 119 <= wob["oldest_waiting_seconds"] < 200
    # 2.0 minutes, or 2.1 when the CLI takes more than three seconds to start (a loaded machine)
    assert re.search(r"wobbly .*[│|]\s*1\s*[│|]\s*1\s*[│|]\s*2\.[01]m\s*[│|]", deployment.cli().stdout)

    ctx.redis.hset(ctx.keys.delivery(did), "status", "retrying")  # a retry claimed again
    assert partner(deployment.snapshot(), "wobbly")["retrying"] == 1


def test_missing_workers_are_named_and_a_queue_without_any_is_critical(deployment):
    deployment.healthy()
    ctx, now = deployment.ctx, time.time()
    heartbeats.beat(ctx, "deliveries-2@host", ["deliveries"], now - 600, now - 60)  # stopped beating a minute ago
    code, line = deployment.check()
    assert code == 1 and "worker missing on queue deliveries: deliveries-2@host" in line, line
    shown = deployment.cli().stdout
    assert "deliveries 1/2 online missing: deliveries-2@host" in shown, shown

    heartbeats.beat(ctx, "feeds-1@host", ["feeds"], now - 600, now - 60)  # the only feeds worker goes quiet
    code, line = deployment.check()
    assert code == 2 and line.startswith("CRITICAL - no worker online on queue feeds (missing: feeds-1@host)"), line
    snap = deployment.snapshot()
    assert snap["workers"]["queues"]["feeds"] == {"online": [], "missing": ["feeds-1@host"]}
    assert {w["name"]: w["online"] for w in snap["workers"]["list"]}["feeds-1@host"] is False


def test_a_stalled_sweeper_is_critical(deployment):
    deployment.healthy()
    ctx = deployment.ctx
    ctx.redis.set(ctx.keys.sweeper_last_run, time.time() - 90)
    code, line = deployment.check()
    assert code == 2 and re.match(r"CRITICAL - sweeper last ran 1\.5m ago \(\d\d:\d\d:\d\dZ\)", line), line
    sweeper = deployment.snapshot()["sweeper"]
    assert 89 <= sweeper["age"] < 150 and sweeper["last_run"] < time.time() - 89


def test_dead_letters_dead_events_and_an_evicting_redis_warn(deployment, receiver):
    deployment.healthy()
    ctx = deployment.ctx
    receiver.default = Reply(422)  # a payload the partner refuses: a dead letter, not a partner outage
    due_delivery(ctx, "wobbly", "refused-1")
    assert push.push_batch(ctx, "wobbly").outcomes == {"dead": 1}
    ctx.redis.zadd(ctx.keys.events_dead, {"evt-poison": time.time()})
    code, line = deployment.check()
    assert (code, line) == (1, "WARNING - 1 dead letter(s), 1 dead event(s)"), line

    ctx.redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        code, line = deployment.check()
        snap = deployment.snapshot()
    finally:
        ctx.redis.config_set("maxmemory-policy", "noeviction")
    assert code == 1 and "Redis maxmemory-policy allkeys-lru evicts keys" in line, line
    assert snap["redis"]["policy"] == "allkeys-lru" and snap["redis"]["maxmemory"] == 256 * 1024 * 1024
    assert 0 < snap["redis"]["used_memory"] < snap["redis"]["maxmemory"]


def test_unreachable_redis_is_unknown_for_check_and_one_line_for_status(deployment):
    gone = {"SYNDICATION_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    check = deployment.cli("--check", env=gone)
    assert check.returncode == 3 and check.stdout.startswith("UNKNOWN - cannot reach Redis"), check
    shown = deployment.cli(env=gone)
    assert shown.returncode == 1 and shown.stdout == "", shown
    assert shown.stderr.startswith("status: cannot reach Redis") and shown.stderr.count("\n") == 1, shown.stderr
