"""The delivery engine on real processes: a partner's requests run concurrently, a hung partner holds
only its own slots, and the deliveries worker started with the bare Celery command keeps isolation.

One service for the module: API, events worker, and the deliveries worker started exactly as
DESIGN.md's Interfaces write it (`celery -A workers worker -Q deliveries`, no pool or concurrency
flags) with 16 pushes in flight. Partners (real HTTP servers on 127.0.0.1):

    wide        max_in_flight 8, answers after 200 ms                 (category Wide)
    steady      answers at once                                       (category Crowd)
    slow0..1    answer after 300 ms                                   (category Crowd)
    hang0..3    never answer; read timeout 2 s, circuit opens after
                failing for 3 s                                       (category Crowd)

Four of the seven crowd partners hang, each allowed 2 requests in flight: without the cut to one
request after a timeout and the circuit on time spent failing, they would hold half the pushers
until five timeouts each.
"""

from __future__ import annotations

import json
import sys
import time

import pytest
import requests
import yaml

from syndication.configuration import load_settings
from syndication.delivery import circuit
from syndication.infra.context import Context
from syndication.ops import heartbeats
from tests.conftest import API_KEY
from tests.support.burst import release_burst
from tests.support.events import article_event
from tests.support.processes import Proc, api, free_port, private_env, start_all, stop_all, wait_for, worker
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.integration
PUSHERS = 16
HANGING = [f"hang{i}" for i in range(4)]
SLOW = ["slow0", "slow1"]


def _partner(pid: str, url: str, category: str, **extra) -> dict:
    return {"id": pid, "url": url, "format": "json", "allow_private_network": True,
            "filters": {"categories": [category]}, **extra}


@pytest.fixture(scope="module")
def engine_service(redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("engine")
    names = ["wide", "steady", *SLOW, *HANGING]
    receivers = {n: Receiver.start() for n in names}
    receivers["wide"].default = Reply(delay=0.2)
    for n in SLOW:
        receivers[n].default = Reply(delay=0.3)
    for n in HANGING:
        receivers[n].default = Reply(hang=True)
    partners = [_partner("wide", receivers["wide"].url, "Wide", max_in_flight=8),
                _partner("steady", receivers["steady"].url, "Crowd"),
                *[_partner(n, receivers[n].url, "Crowd") for n in SLOW],
                *[_partner(n, receivers[n].url, "Crowd", timeouts={"connect": 1, "read": 2}, breaker_failing_for=3,
                           retry={"base_delay": 0.5, "max_delay": 1}) for n in HANGING]]
    partners_file = tmp / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": partners}))
    port = free_port()
    env = private_env(redis_url, port, partners_file, "engine", SYNDICATION_API_KEYS=API_KEY,
                      SYNDICATION_DELIVERY_IN_FLIGHT=str(PUSHERS))
    ctx = Context.build(load_settings(env))
    bare = Proc("worker-deliveries-bare", [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "deliveries"],
                env, tmp)
    procs = [api(env, tmp, port), worker("events", env, tmp), bare]
    try:
        start_all(procs)  # cold starts overlap
        wait_for(lambda: [w for w in heartbeats.roster(ctx) if "deliveries" in w["queues"] and w.get("engine")],
                 timeout=30, what="the bare deliveries worker's engine in its heartbeat")
        yield {"url": f"http://127.0.0.1:{port}", "ctx": ctx, "receivers": receivers, "worker": bare}
    finally:
        stop_all(procs)
        for r in receivers.values():
            r.stop()


def _post(service, event: dict) -> float:
    r = requests.post(f"{service['url']}/v1/events", data=json.dumps(event), timeout=10,
                      headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    return time.time()


def test_the_bare_deliveries_worker_runs_the_engine_with_the_pushers_the_setting_asks(engine_service):
    [w] = [w for w in heartbeats.roster(engine_service["ctx"]) if "deliveries" in w["queues"]]
    assert w["engine"]["pushers"] == PUSHERS


def test_a_partner_allowed_8_in_flight_receives_8_requests_at_once(engine_service, unique):
    ctx, wide = engine_service["ctx"], engine_service["receivers"]["wide"]
    partner = ctx.settings.target("wide")
    ids = [f"wide-{unique}-{i}" for i in range(12)]  # come due together, then let go
    took = release_burst(ctx, "wide", wide, ids,
                         lambda aid: _post(engine_service, article_event(aid, categories=["Wide"])), timeout=20)
    assert wide.peak == partner.max_in_flight == 8  # as many at once as allowed, and never more
    # 12 answers of 200 ms at 8 at once: two rounds, not twelve one after another (2.4 s).
    assert took < 1.5, f"12 pushes took {took:.2f} s"
    assert wide.connections <= 8  # each request in flight on its own kept-alive connection, none discarded


def test_a_healthy_partner_keeps_its_pace_while_half_the_crowd_hangs(engine_service, unique):
    ctx, recv = engine_service["ctx"], engine_service["receivers"]
    steady = recv["steady"]
    sent: dict[str, float] = {}
    for i in range(24):  # 4 events a second for 6 s, each to all seven crowd partners
        aid = f"crowd-{unique}-{i}"
        sent[aid] = _post(engine_service, article_event(aid, categories=["Crowd"]))
        time.sleep(0.25)  # the publisher's pace, not a wait for anything
    breaking = f"crowd-{unique}-breaking"
    sent[breaking] = _post(engine_service, article_event(breaking, categories=["Crowd"]))
    wait_for(lambda: all(steady.for_article(a) for a in sent), timeout=30, what="every story at steady")
    latency = sorted(steady.for_article(a)[0].at - t for a, t in sent.items())
    p95 = latency[int(0.95 * (len(latency) - 1))]
    assert p95 <= 1.0, f"steady's publish->push p95 {p95:.2f} s (all: {[round(x, 2) for x in latency]})"
    assert steady.for_article(breaking)[0].at - sent[breaking] <= 1.0
    for n in SLOW:  # slow partners get everything too, concurrently with the rest
        wait_for(lambda n=n: all(recv[n].for_article(a) for a in sent), timeout=30, what=f"every story at {n}")
    for n in HANGING:
        # Cut to one request after its first timeout, open after failing for 3 s: a hanging partner
        # saw its 2 slots' worth, then one probe at a time, not a request per delivery.
        health = circuit.health(ctx, n)
        assert health["state"] in ("open", "half_open"), (n, health)
        assert len(recv[n].requests) <= 6, (n, len(recv[n].requests))


def test_config_check_refuses_a_partner_that_could_hold_half_the_pushers(tmp_path):
    import subprocess

    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": [
        _partner("greedy", "http://127.0.0.1:7000/in", "Any", max_in_flight=100),
        _partner("modest", "http://127.0.0.1:7000/in", "Any", max_in_flight=8)]}))
    env = private_env("redis://127.0.0.1:7000/0", 7000, partners_file, "check")

    def check(in_flight: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "syndication.cli", "config", "check", "--offline"],
                              env={**env, "SYNDICATION_DELIVERY_IN_FLIGHT": in_flight},
                              capture_output=True, text=True, timeout=30)

    refused = check("128")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "REFUSED: partner greedy: max_in_flight 100" in refused.stdout and "modest" not in refused.stdout.split("REFUSED")[1]
    assert "128 pushes in flight per deliveries process" in refused.stdout
    accepted = check("256")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_the_bare_command_runs_one_process_on_threads(engine_service):
    """`celery -A workers worker -Q deliveries` as written: the app's threads pool, no prefork children
    that reloads and the engine would never reach."""
    from pathlib import Path

    pid = engine_service["worker"].p.pid
    assert Path(f"/proc/{pid}/task/{pid}/children").read_text().split() == []
    assert len(list(Path(f"/proc/{pid}/task").iterdir())) > PUSHERS  # the engine's pushers are its threads


def test_a_pool_the_service_cannot_run_is_refused_in_one_line(redis_url, tmp_path):
    import subprocess

    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": []}))
    env = private_env(redis_url, 7000, partners_file, "pool")
    done = subprocess.run([sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "deliveries", "-P", "processes"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("syndication:")]
    assert "prefork pool is refused" in line and "run `celery -A workers worker -Q deliveries`" in line
