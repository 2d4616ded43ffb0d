"""The service spread over simulated hosts: Redis, the API and two worker hosts on one bridge.

    with Network() as net, NetCluster(tmp, net, partners, receivers) as c:
        c.hosts["a"].procs          # host A's events, feeds and deliveries workers (pinned to CPU 0)
        c.freeze("b"); c.kill("b")  # SIGSTOP / SIGKILL every process of worker host B
        c.start_host("b")           # B comes back: its three workers, as they started the first time

Hosts (10.77.N.x on the bridge, see network.py): redis .1, api .2, worker host A .11, worker host
B .12; the test process is the outside world at .254 (the publisher, the partners' HTTP servers,
the checks). Each worker host runs exactly what `syndication up` runs for its workers
(`topology.worker_specs`), with one deliveries process since the host is pinned to one CPU
(`taskset`): A on CPU 0, B on CPU 1. Redis, the API and the outside world are not pinned.

NetCluster is the fault harness's Cluster (tests/faults/harness.py) on that network, so its
machinery applies unchanged: `in_flight()`, `watch_leases()`, `settle()`, and `check()` with the
harness's `Stream` for the end state (partners "a" and "b").
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

from syndication.cli.topology import worker_specs
from syndication.configuration import load_settings
from syndication.delivery import schedule
from syndication.infra.context import Context
from syndication.ops import heartbeats as roster
from tests.faults.harness import API_KEY, SECRET, Cluster, Timing, parallel
from tests.scale.network import Host, Network
from tests.support.processes import Proc, wait_for
from tests.support.receiver import Receiver

REDIS_PORT = 6380  # in its own namespace; not 6379 all the same, so it is never mistaken for a real one
API_PORT = 8000
CPU = {"a": 0, "b": 1}  # worker host -> the one CPU its processes may use
OCTET = {"redis": 1, "api": 2, "a": 11, "b": 12}


@dataclass
class WorkerHost:
    host: Host
    cpu: int
    procs: list[Proc] = field(default_factory=list)

    def pids(self) -> list[int]:
        return [p.p.pid for p in self.procs if p.p and p.p.poll() is None]


def scenario_partners(receivers: dict[str, Receiver], *, max_in_flight: int = 8) -> list[dict]:
    """Partners a (everything) and b (Economy, signed) as in the fault harness, with its timeouts
    and retries, and room for both hosts' pumps to push at once."""
    t = Timing
    common = {"format": "json", "allow_private_network": True, "retry": t.RETRY, "max_in_flight": max_in_flight,
              "timeouts": {"connect": t.CONNECT, "read": t.READ}}
    return [
        {"id": "a", "url": receivers["a"].url, **common},
        {"id": "b", "url": receivers["b"].url, **common, "filters": {"categories": ["Economy"]},
         "auth": {"type": "standard-webhooks", "secret_env": "B_SECRET"},
         "breaker_threshold": t.BREAKER_THRESHOLD, "breaker_cooldown": t.BREAKER_COOLDOWN},
    ]


class NetCluster(Cluster):
    def __init__(self, tmp: Path, net: Network, partners: list[dict], receivers: dict[str, Receiver] | None = None,
                 *, start_b: bool = True, env: dict | None = None):
        self.tmp, self.net = tmp, net
        self.partners = receivers or {}
        self.wanted = {p["id"]: list((p.get("filters") or {}).get("categories") or []) for p in partners}
        self.start_b = start_b
        redis_host, api_host = net.host("redis", OCTET["redis"]), net.host("api", OCTET["api"])
        self.hosts = {name: WorkerHost(net.host(name, OCTET[name]), CPU[name]) for name in ("a", "b")}
        self.api_url = f"http://{api_host.address}:{API_PORT}"
        partners_file, feeds_file = tmp / "partners.yaml", tmp / "feeds.yaml"
        partners_file.write_text(yaml.safe_dump({"partners": partners}))
        feeds_file.write_text(yaml.safe_dump({"feeds": [
            {"name": "all", "title": "All"},
            {"name": "economy", "title": "Economy", "filters": {"categories": ["Economy"]}},
        ]}))
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
            "SYNDICATION_REDIS_URL": f"redis://{redis_host.address}:{REDIS_PORT}/0",
            "SYNDICATION_API_KEYS": API_KEY,
            "SYNDICATION_PARTNERS_FILE": str(partners_file),
            "SYNDICATION_FEEDS_FILE": str(feeds_file),
            "SYNDICATION_BASE_URL": self.api_url,
            "SYNDICATION_EVENT_REDRIVE_AFTER": str(Timing.REDRIVE_AFTER),
            "SYNDICATION_RENDER_WINDOW": str(Timing.RENDER_WINDOW),
            "SYNDICATION_DELIVERY_PROCESSES": "1",  # one CPU per host: one deliveries process
            "B_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        data = tmp / "redis-data"
        data.mkdir(exist_ok=True)
        self.redis = Proc("redis", net.exec_argv(redis_host, [
            "redis-server", "--port", str(REDIS_PORT), "--bind", redis_host.address, "--protected-mode", "no",
            "--dir", str(data), "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"]),
            dict(os.environ), tmp, ready="Ready to accept connections")
        self.api = Proc("api", net.exec_argv(api_host, [
            sys.executable, "-m", "syndication.cli", "api", "--host", api_host.address, "--port", str(API_PORT)]),
            self.env, tmp, url=f"{self.api_url}/healthz")
        for name, wh in self.hosts.items():
            for spec in worker_specs(self.env):
                argv = [sys.executable, "-m", "celery", "-A", "workers", "worker", *spec.args(),
                        "--without-gossip", "--without-mingle", "-E", "-l", "info"]
                wh.procs.append(Proc(f"{name}-{spec.name}", net.exec_argv(wh.host, argv, cpu=wh.cpu), self.env, tmp,
                                     ready=" ready."))
        self.procs = {"api": self.api, **{p.name: p for wh in self.hosts.values() for p in wh.procs}}
        self.extra: list[Proc] = []
        self.ctx: Context | None = None

    def __enter__(self) -> "NetCluster":
        try:
            self.redis.start()
            self.ctx = Context.build(load_settings(self.env))
            for p in self.ctx.settings.targets:  # the recovery bounds assume the documented lease (docs/explanation/promises.md)
                assert schedule.lease_seconds(p) == p.timeouts.connect + p.timeouts.read + 10.0
            starting = [self.api.start, lambda: self.start_host("a")]
            if self.start_b:
                starting.append(lambda: self.start_host("b"))
            parallel(starting)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for p in [*self.procs.values(), self.redis]:
            try:
                p.kill()
            except (ProcessLookupError, OSError):
                pass
        for r in self.partners.values():
            r.stop()

    # -- worker hosts ------------------------------------------------------------------------

    def start_host(self, name: str) -> None:
        parallel(p.start for p in self.hosts[name].procs)

    def _signal(self, name: str, sig: int) -> None:
        for pid in self.hosts[name].pids():
            os.killpg(pid, sig)

    def freeze(self, name: str) -> None:
        self._signal(name, signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        self._signal(name, signal.SIGCONT)

    def kill(self, name: str) -> float:
        """kill -9 every process of worker host `name` (frozen ones too); returns when."""
        procs = [p for p in self.hosts[name].procs if p.p and p.p.poll() is None]
        for p in procs:
            os.killpg(p.p.pid, signal.SIGKILL)
        at = time.time()
        for p in procs:
            p.p.wait(10)
        return at

    def freeze_when_holding(self, name: str, look: float = 0.3, timeout: float = 30.0) -> tuple[dict, int]:
        """Freeze host `name` at a moment it holds deliveries under lease, and leave it frozen.

        Which process holds a lease is not written anywhere, so: freeze the host, read the
        leases, look again `look` s later. A lease still there untouched after `look` (the
        partners answer in ~0.1 s) is almost surely the frozen host's; `check_redriven` later
        tells for sure (a lease the sweeper re-drove once it expired was never finished).
        Returns ({partner: {delivery id: lease end}} held at the freeze, looks taken).
        """
        deadline = time.monotonic() + timeout
        looks = 0
        while True:
            looks += 1
            self.freeze(name)
            first = self.in_flight()
            time.sleep(look)
            again = self.in_flight()
            held = {pid: {d: until for d, until in ids.items() if again.deliveries[pid].get(d) == until}
                    for pid, ids in first.deliveries.items()}
            if any(held.values()):
                return first.deliveries, looks
            self.thaw(name)
            assert time.monotonic() < deadline, f"host {name} never held a lease in {timeout} s ({looks} looks)"
            time.sleep(0.1 + 0.1 * (looks % 3))

    def host_online(self, name: str, since: float) -> bool:
        """Every worker of host `name` has written a heartbeat since `since`."""
        mine = [w for w in roster.roster(self.ctx) if w.get("host") == f"host-{name}"]
        return len(mine) >= len(self.hosts[name].procs) and all(
            w["online"] and float(w["last_seen"]) >= since for w in mine)

    def wait_host_online(self, name: str, since: float, timeout: float = 60.0) -> float:
        wait_for(lambda: self.host_online(name, since), timeout, 0.2, f"host {name}'s workers heartbeating")
        return time.time()

    def post(self, event: dict) -> requests.Response:
        return requests.post(f"{self.api_url}/v1/events", json=event, timeout=10,
                             headers={"Authorization": f"Bearer {API_KEY}"})
