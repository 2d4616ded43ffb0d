"""A partner's rate limit on real processes: two deliveries processes share it, the partner sees the
rate plus the burst and never more, every delivery arrives on its first attempt; `config check`
refuses a limit that means nothing.

    limited     rate_limit {per_second: 5, burst: 5}, answers at once    (category Limited)

Measured at the receiver, by arrival time. Tolerance: a batch is charged to the limit when it is
claimed and sent a moment later, so a batch sent late can land next to the next one: TOLERANCE
requests more than `rate * window + burst` in any window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration
RATE, BURST, TOLERANCE, STORIES = 5, 5, 2, 100


def _deliveries(env: dict, tmp, n: int) -> Proc:
    argv = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "deliveries", "-P", "threads",
            "-c", "4", "-n", f"deliveries{n}-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "-l", "info"]
    return Proc(f"worker-deliveries{n}", argv, env, tmp, ready=" ready.")


@pytest.fixture(scope="module")
def limited(redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ratelimit")
    receiver = Receiver.start()
    partners = [{"id": "limited", "url": receiver.url, "format": "json", "allow_private_network": True,
                 "filters": {"categories": ["Limited"]}, "rate_limit": {"per_second": RATE, "burst": BURST}}]
    partners_file = tmp / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": partners}))
    port = free_port()
    env = private_env(redis_url, port, partners_file, "ratelimit", SYNDICATION_API_KEYS=API_KEY,
                      SYNDICATION_DELIVERY_IN_FLIGHT="16")
    ctx = Context.build(load_settings(env))
    procs = [api(env, tmp, port), worker("events", env, tmp), _deliveries(env, tmp, 1), _deliveries(env, tmp, 2)]
    try:
        start_all(procs)
        wait_for(lambda: len([w for w in heartbeats.roster(ctx) if "deliveries" in w["queues"] and w.get("engine")])
                 == 2, timeout=30, what="two deliveries processes' engines in their heartbeats")
        yield {"url": f"http://127.0.0.1:{port}", "ctx": ctx, "receiver": receiver, "env": env, "tmp": tmp}
    finally:
        stop_all(procs)
        receiver.stop()


def _post(service, event: dict) -> None:
    r = requests.post(f"{service['url']}/v1/events", data=json.dumps(event), timeout=10,
                      headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    assert r.status_code == 202, r.text


def test_a_burst_of_100_across_two_processes_keeps_to_the_rate_plus_the_burst(limited, unique):
    ctx, receiver = limited["ctx"], limited["receiver"]
    ids = [f"lim-{unique}-{i}" for i in range(STORIES)]
    took = release_burst(ctx, "limited", receiver, ids,
                         lambda aid: _post(limited, article_event(aid, categories=["Limited"])), timeout=60)

    arrivals = sorted(r.at for r in receiver.requests if f"lim-{unique}-".encode() in r.body)
    assert len(arrivals) == STORIES  # each once: nothing held back was sent twice
    worst = max(j - i + 1 - (RATE * (arrivals[j] - arrivals[i]) + BURST)
                for i in range(len(arrivals)) for j in range(i, len(arrivals)))
    assert worst <= TOLERANCE, f"{worst:.1f} requests over the rate plus the burst in some window"
    # The limit is reached too: (100 - burst) / rate = 19 s, woken when the limiter allows, not much later.
    assert took < (STORIES - BURST) / RATE + 6, f"100 deliveries took {took:.1f} s"
    both = {w["pid"] for w in heartbeats.roster(ctx) if w.get("engine", {}).get("batches")}
    assert len(both) == 2, "both deliveries processes pushed to the partner (the limit is shared, not per process)"

    shown = requests.get(f"{limited['url']}/metrics", timeout=10).text
    [throttled] = [line for line in shown.splitlines()
                   if line.startswith('syndication_partner_throttled_total{partner="limited"}')]
    assert float(throttled.split()[-1]) > 0, throttled  # held-back claims are counted

    pipe = ctx.redis.pipeline(transaction=False)
    for did in ctx.redis.zrange(ctx.keys.partner_history("limited"), 0, -1):
        pipe.hmget(ctx.keys.delivery(did.decode()), "attempts", "status")
    records = pipe.execute()
    assert len(records) == STORIES
    assert {(a, s) for a, s in records} == {(b"1", b"delivered")}  # held back is not an attempt
    health = circuit.health(ctx, "limited")  # held back is no failure either: the circuit never heard of it
    assert "last_failure_at" not in health and "opened_count" not in health, health


def _check(limited, rate_limit) -> subprocess.CompletedProcess:
    partners_file = limited["tmp"] / "bad-partners.yaml"
    partner = {"id": "limited", "url": "http://127.0.0.1:9/hook", "format": "json", "allow_private_network": True}
    partners_file.write_text(yaml.safe_dump({"partners": [
        {**partner, "rate_limit": rate_limit}, {**partner, "id": "free"}]}))
    return subprocess.run([sys.executable, "-m", "syndication.cli", "config", "check", "--offline"],
                          env={**limited["env"], "SYNDICATION_PARTNERS_FILE": str(partners_file)},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("rate_limit, field", [
    ({"per_second": 0, "burst": 5}, "rate_limit.per_second"),  # 0 is refused: no limit is no `rate_limit`
    ({"per_minute": -10}, "rate_limit.per_minute"),
    ({"requests": 10, "period": 0}, "rate_limit.period"),
    ({"per_second": 5, "burst": 0}, "rate_limit.burst"),
    ({"burst": 5}, "rate_limit"),
    ({"per_second": 5, "per_minute": 300}, "rate_limit"),
])
def test_config_check_refuses_a_rate_limit_that_means_nothing_in_one_line(limited, rate_limit, field):
    out = _check(limited, rate_limit)
    assert out.returncode == 2, out.stdout + out.stderr
    [line] = out.stderr.strip().splitlines()
    assert "(limited)" in line and field in line, line


def test_config_check_takes_a_per_minute_limit_and_says_which_partner_has_none(limited):
    out = _check(limited, {"per_minute": 600, "burst": 50})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[rate limit: 600/60s, burst 50]" in out.stdout
    assert "free: json -> http://127.0.0.1:9/hook [none] [no rate limit]" in out.stdout
