"""`syndication status` shows workers per host: a worker host that goes away is one host with every worker missing.

Heartbeats are written as the workers write them (ops/heartbeats.beat, whose `host` is the process's
hostname), by processes that really run under another hostname: each "host" is a process in its
own UTS namespace (`unshare --uts`, root) with `hostname` set, so nothing here fakes the host
field. The status CLI runs as a subprocess, as on-call runs it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from syndication.configuration import load_settings
from syndication.infra.context import Context
from syndication.ops import heartbeats

pytestmark = pytest.mark.integration

BEAT = """
import sys, time
from syndication.configuration import load_settings
from syndication.infra.context import Context
from syndication.ops import heartbeats
ctx = Context.build(load_settings())
now = time.time()
last_seen = now - float(sys.argv[1])
for spec in sys.argv[2:]:
    name, queue = spec.split("=")
    heartbeats.beat(ctx, name, [queue], now - 600, last_seen)
"""


def beat_as_host(env: dict, host: str, age: float, *workers_: str) -> None:
    """Heartbeats from a process whose hostname is `host` (its own UTS namespace), `age` seconds old."""
    script = f"hostname {host} && exec {sys.executable} -c \"$BEAT\" {age} {' '.join(workers_)}"
    out = subprocess.run(["unshare", "--uts", "sh", "-c", script], env={**env, "BEAT": BEAT}, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr


@pytest.fixture
def env(redis_url, tmp_path) -> dict:
    if not shutil.which("unshare"):
        pytest.skip("needs unshare (util-linux) to run heartbeats under another hostname")
    probe = subprocess.run(["unshare", "--uts", "hostname", "probe-host"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a UTS namespace here (needs root): {probe.stderr.strip()}")
    (tmp_path / "partners.yaml").write_text("partners: []\n")
    (tmp_path / "feeds.yaml").write_text("feeds: [{name: all, title: All}]\n")
    return {"PATH": "/usr/bin:/bin", "SYNDICATION_REDIS_URL": redis_url,
            "SYNDICATION_KEY_PREFIX": f"h{uuid.uuid4().hex[:6]}:",
            "SYNDICATION_PARTNERS_FILE": str(tmp_path / "partners.yaml"),
            "SYNDICATION_FEEDS_FILE": str(tmp_path / "feeds.yaml")}


def status(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "syndication.cli", "status", *args], capture_output=True, text=True,
                          env={**env, "COLUMNS": "200"}, timeout=60)


def test_status_groups_workers_by_host_and_names_a_host_gone_quiet(env):
    ctx = Context.build(load_settings(env))
    ctx.redis.set(ctx.keys.sweeper_last_run, time.time())
    beat_as_host(env, "worker-a", 0, "events@worker-a=events", "feeds@worker-a=feeds",
                 "deliveries1@worker-a=deliveries", "deliveries2@worker-a=deliveries")
    # Host B stopped beating a minute ago (kill -9 of the whole host, or its link down).
    beat_as_host(env, "worker-b", 60, "events@worker-b=events", "deliveries1@worker-b=deliveries")

    out = status(env, "--json")
    assert out.returncode == 0, out.stderr
    snap = json.loads(out.stdout)
    assert {w["name"]: w["host"] for w in snap["workers"]["list"]} == {
        "deliveries1@worker-a": "worker-a", "deliveries2@worker-a": "worker-a", "events@worker-a": "worker-a",
        "feeds@worker-a": "worker-a", "deliveries1@worker-b": "worker-b", "events@worker-b": "worker-b"}
    hosts = snap["workers"]["hosts"]
    assert hosts["worker-a"]["queues"] == {"events": 1, "feeds": 1, "deliveries": 2}
    assert sorted(hosts["worker-a"]["online"]) == ["deliveries1@worker-a", "deliveries2@worker-a",
                                                   "events@worker-a", "feeds@worker-a"]
    assert hosts["worker-a"]["missing"] == []
    assert hosts["worker-b"] == {"online": [], "missing": ["deliveries1@worker-b", "events@worker-b"], "queues": {}}

    shown = status(env)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"host worker-a: 4/4 online \(deliveries 2, events 1, feeds 1\)", shown.stdout), shown.stdout
    assert re.search(r"host worker-b: 0/2 online missing: deliveries1@worker-b, events@worker-b", shown.stdout), \
        shown.stdout
    # The roster the screen reads is the one ops/heartbeats keeps: host A's entries are this test's processes'.
    assert {w["host"] for w in heartbeats.roster(ctx) if w["online"]} == {"worker-a"}
