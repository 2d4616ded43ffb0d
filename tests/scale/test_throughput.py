"""Deliveries/s with one worker host and with two, measured in the same run.

Each worker host's processes are pinned to one CPU (`taskset`: host A -> CPU 0, host B -> CPU 1),
so on this 2-core machine "two hosts" means twice the CPU for the workers. Redis, the API, the
fast partner and this test process are not pinned: they share both CPUs with the hosts (in the
A-alone case they have CPU 1 to themselves, which flatters A alone a little).

Three cases in this order: A alone, A + B, A alone again (B killed), the ratio being A + B over
the mean of the two A-alone runs (the machine is shared: bracketing shows drift). Each case
drains the same bounded backlog: the four partners are paused, EVENTS new articles are
posted and applied (EVENTS x 4 deliveries due), then the partners are resumed at t0 and the
clock runs until the fast partner (benchmarks/harness/partner.py, an asyncio server in its own
process on the bridge, answering 200 at once) has received every delivery once. deliveries/s =
deliveries / (last first-receipt - t0). Pushes are signed (standard-webhooks), as in production.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from syndication.delivery import circuit, schedule
from tests.faults.harness import API_KEY
from tests.scale.cluster import NetCluster
from tests.scale.conftest import FIGURES
from tests.support.events import article_event
from tests.support.processes import Proc, free_port, wait_for

pytestmark = pytest.mark.scale

PARTNERS = [f"f{i}" for i in range(4)]
EVENTS = 1500  # per case: 6,000 deliveries, a few seconds of pushing
# One deliveries process per host (one CPU) with 8 pumps: with Redis and the partner across the
# bridge, the default 4 left a third of the host's CPU idle waiting on round trips (measured:
# A alone at 70% of its CPU with 4, 99% with 8), and the question here is what a host's CPU buys.
THREADS = 8
TIMEOUT = 120.0  # each step of a case (publish, apply, drain) must finish within this


class FastPartner:
    """The benchmarks' fast partner process, listening on the outside world's bridge address."""

    def __init__(self, address: str, logdir):
        self.address, self.port = address, free_port()
        code = ("import sys; from benchmarks.harness import partner; partner.HOST = sys.argv[1]; "
                "partner.serve_partner(int(sys.argv[2]))")
        self.proc = Proc("fast-partner", [sys.executable, "-c", code, address, str(self.port)],
                         dict(os.environ, PYTHONUNBUFFERED="1"), logdir, ready="listening on")

    def url(self, pid: str) -> str:
        return f"http://{self.address}:{self.port}/p/{pid}"

    def get(self, path: str) -> dict:
        return requests.get(f"http://{self.address}:{self.port}{path}", timeout=10).json()


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _publish(c: NetCluster, run: str) -> None:
    local = threading.local()  # one keep-alive session per sender thread

    def post(i: int) -> int:
        s = local.__dict__.setdefault("session", requests.Session())
        r = s.post(f"{c.api_url}/v1/events", json=article_event(f"tp-{run}-{i:05d}"), timeout=10,
                   headers={"Authorization": f"Bearer {API_KEY}"})
        return r.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, range(EVENTS)))
    assert statuses.count(202) == EVENTS, {s: statuses.count(s) for s in set(statuses)}


def _drain(c: NetCluster, fast: FastPartner, hosts: list[str]) -> dict:
    ctx, k = c.ctx, c.ctx.keys
    n = EVENTS * len(PARTNERS)
    for pid in PARTNERS:
        circuit.pause(ctx, pid)
    _publish(c, f"{''.join(hosts)}-{time.time_ns()}")

    def backlog_ready():
        due = sum(ctx.redis.zcard(k.partner_due(pid)) for pid in PARTNERS)
        return ctx.redis.zcard(k.events_pending) == 0 and due == n or (due, ctx.redis.zcard(k.events_pending))

    wait_for(lambda: backlog_ready() is True, TIMEOUT, 0.2, f"{n} deliveries due")
    fast.get("/_reset")
    others = {"redis": [c.redis.p.pid], "partner": [fast.proc.p.pid], "api": [c.api.p.pid], "test": [os.getpid()]}
    cpu0 = {h: _cpu_seconds(c.hosts[h].pids()) for h in hosts}
    other0, machine0 = {k: _cpu_seconds(v) for k, v in others.items()}, _machine()
    t0 = time.time()
    for pid in PARTNERS:
        circuit.resume(ctx, pid)
    schedule.mark_ready(ctx, PARTNERS)
    wait_for(lambda: fast.get("/_stats")["unique"] >= n, TIMEOUT, 0.1, f"{n} deliveries received")
    stats = fast.get("/_stats")
    seconds = stats["last_new"] - t0
    cpu = {h: _cpu_seconds(c.hosts[h].pids()) - cpu0[h] for h in hosts}
    other = {k: _cpu_seconds(v) - other0[k] for k, v in others.items()}
    machine = _machine(machine0)
    assert stats["unique"] == n and stats["total"] == n and stats["signed"] == n, stats
    busy = ", ".join(f"{h.upper()} {used / seconds:.0%}" for h, used in cpu.items())
    return {"hosts": " + ".join(h.upper() for h in hosts), "deliveries": n, "seconds": round(seconds, 3),
            "rate": round(n / seconds, 1), "host_cpu": {h: round(used / seconds, 2) for h, used in cpu.items()},
            "cpu": f"{busy} of its CPU; {sum(cpu.values()) / n * 1000:.2f} ms/delivery",
            # Whatever else ran on the machine meanwhile (other people's tests: it is shared).
            "foreign": round(machine * os.cpu_count() - (sum(cpu.values()) + sum(other.values())) / seconds, 2),
            "others": f"Redis {other['redis'] / seconds:.0%}, partner {other['partner'] / seconds:.0%}, "
                      f"this test {other['test'] / seconds:.0%} of a core; machine {machine:.0%} busy",
            "load_average": round(os.getloadavg()[0], 2)}


def _machine(since: tuple[int, int] | None = None):
    """/proc/stat's busy and total jiffies now, or the share of all CPUs busy since `since`."""
    values = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    busy, total = sum(values) - values[3] - values[4], sum(values)  # all but idle and iowait
    if since is None:
        return busy, total
    return (busy - since[0]) / max(1, total - since[1])


def test_one_worker_host_vs_two(network, tmp_path):
    fast = FastPartner(network.outside, tmp_path)
    partners = [{"id": pid, "url": fast.url(pid), "format": "json", "allow_private_network": True,
                 "auth": {"type": "standard-webhooks", "secret_env": "B_SECRET"}, "max_in_flight": 4}
                for pid in PARTNERS]
    fast.proc.start()
    try:
        with NetCluster(tmp_path, network, partners, start_b=False,
                        env={"SYNDICATION_DELIVERY_THREADS": str(THREADS)}) as c:
            alone = _drain(c, fast, ["a"])
            since = time.time()
            c.start_host("b")
            c.wait_host_online("b", since=since)
            both = _drain(c, fast, ["a", "b"])
            for name, wh in c.hosts.items():  # each Popen pid is the pinned Celery process itself
                for pid in wh.pids():
                    assert "celery" in open(f"/proc/{pid}/cmdline").read(), pid
                    assert os.sched_getaffinity(pid) == {wh.cpu}, (name, pid, os.sched_getaffinity(pid))
            # A alone once more, B gone: the machine is shared, so A alone brackets A + B in time.
            c.kill("b")
            again = _drain(c, fast, ["a"])
    finally:
        fast.proc.kill()
    ratio = both["rate"] / ((alone["rate"] + again["rate"]) / 2)
    FIGURES["throughput"] = {"cases": [alone, both, again], "ratio": round(ratio, 2),
                             "pinning": "host A on CPU 0, host B on CPU 1, each 1 deliveries process x "
                                        f"{THREADS} threads; Redis, API, partner unpinned"}
    # Host B took its share of the pushes (its CPU worked as hard as A's, within a factor of 2).
    # How much faster two hosts are is the measurement, reported, not a pass mark: on two cores
    # Redis, the partner and anyone else's processes share the CPUs the hosts are pinned to.
    host_cpu = both["host_cpu"]
    assert host_cpu["b"] >= host_cpu["a"] / 2, f"host B barely pushed: {both['cpu']}"
