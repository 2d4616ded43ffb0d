"""One service under a steady load, measured by process role: what each delivery and each event costs.

Owns `Meter` (CPU seconds of every process from /proc/<pid>/stat, Redis INFO total_commands_processed
and total_reads_processed, and used_memory, between two moments) and the phases measured on one
running service (targets.Service, started as `syndication up` starts it):

- `idle`: nothing published; the fixed cost of each process (housekeeping thread: heartbeat every
  5 s, sweep once a second under a Redis lock; Celery's broker polls) per second.
- `events_only`: events at a fixed rate in a category no partner takes: the API, events and feeds
  workers and Redis per accepted event, no delivery.
- `deliveries`: events at a fixed rate every partner takes, to the fast loopback partner: per delivery.
- the saturating burst is benchmarks/pushbench/measure.burst, reused as is.

A role is a process label without its trailing digits (deliveries1, deliveries2 -> deliveries).
Every wait is bounded; a phase that does not finish raises BenchError naming what was left.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from benchmarks.harness import BenchError
from benchmarks.harness.articles import article_body, event_body, make_article
from benchmarks.harness.cpu import cpu_of, machine_busy
from benchmarks.harness.publish import Sender
from benchmarks.harness.redis_stats import RedisCommands
from benchmarks.pushbench.targets import role
from benchmarks.pushbench.workload import BODY_TARGET, CATEGORY

OTHER_CATEGORY = "Sport"  # the events_only phase's events: in the feeds `all` and `en`, no partner takes them
SNAPSHOT_CMDS = 3  # a Meter's own INFO calls inside its window (commandstats, memory, then stats)


def make_event(run: str, i: int, category: str, published: datetime) -> bytes:
    art = make_article(i, category, published)
    art["id"] = f"{run}-{i:05d}"
    art["url"] = f"https://news.example/en/{category.lower()}/{art['id']}"
    art["body_html"] = article_body(i, target=BODY_TARGET)
    return event_body(art, f"evt-{art['id']}-v1")


def events(run: str, n: int, category: str) -> list[bytes]:
    base = datetime.now(UTC) - timedelta(minutes=20)
    return [make_event(run, i, category, base + timedelta(milliseconds=i)) for i in range(n)]


def used_memory(redis) -> int:
    return int(redis.info("memory")["used_memory"])


class Meter:
    """CPU per process, Redis commands, round trips and memory between start() and stop()."""

    def __init__(self, svc, redis, pids: dict[str, int]):
        self.svc, self.redis, self.pids = svc, redis, pids

    def start(self) -> Meter:
        self.drv0 = self.svc.driver_cmds
        self.mem0 = used_memory(self.redis)
        self.cmds0 = RedisCommands.now(self.redis)
        self.cpu0 = cpu_of(self.pids)
        self.machine0 = machine_busy()
        self.t0 = time.time()
        return self

    def stop(self) -> dict:
        t1 = time.time()
        machine = machine_busy() - self.machine0
        cpu1 = cpu_of(self.pids)
        cmds = self.cmds0.since(self.redis)
        mem1 = used_memory(self.redis)
        driver = self.svc.driver_cmds - self.drv0 + SNAPSHOT_CMDS
        by_proc = {name: cpu1[name] - self.cpu0[name] for name in self.pids}
        by_role: dict[str, float] = {}
        procs_per_role: dict[str, int] = {}
        for name, secs in by_proc.items():
            by_role[role(name)] = by_role.get(role(name), 0.0) + secs
            procs_per_role[role(name)] = procs_per_role.get(role(name), 0) + 1
        # The machine is shared: what processes other than the run's used meanwhile, as cores.
        other = (machine - sum(by_proc.values())) / (t1 - self.t0)
        return {"seconds": t1 - self.t0, "cpu": by_role, "other_cores": other, "cpu_by_process": by_proc, "processes": procs_per_role,
                "redis_cmds": cmds.total - driver, "redis_reads": cmds.reads - driver,
                "by_command": {k: v for k, v in cmds.by_command.items() if v > 0},
                "memory_delta": mem1 - self.mem0}


def wait_quiet(svc, timeout: float, what: str) -> None:
    """Every accepted event applied, nothing due or in flight, no feed waiting for its render."""
    r, k = svc.ctx.redis, svc.ctx.keys
    deadline = time.time() + timeout
    while True:
        busy = svc.busy()
        svc.driver_cmds += 1
        dirty = r.zcard(k.feeds_dirty)
        if not any(busy.values()) and not dirty:
            return
        if time.time() > deadline:
            raise BenchError(f"{what}: not quiet after {timeout:.0f}s: {busy}, feeds waiting {dirty}")
        svc.alive()
        time.sleep(0.05)


def idle(svc, redis, pids: dict[str, int], seconds: float) -> dict:
    m = Meter(svc, redis, pids).start()
    time.sleep(seconds)  # the measured stretch itself: nothing is published, the processes keep house
    return m.stop()


def events_only(svc, redis, pids: dict[str, int], n: int, rate: float, timeout: float) -> dict:
    """`n` events at `rate`/s that only feeds take: per accepted event, no delivery."""
    bodies = events(f"e{uuid.uuid4().hex[:6]}", n, OTHER_CATEGORY)
    svc.partner.reset()
    m = Meter(svc, redis, pids).start()
    Sender(svc.port).post_paced(bodies, rate, connections=4)
    wait_quiet(svc, timeout, "events-only phase")
    res = m.stop()
    pushed = svc.partner.stats()["total"]
    if pushed:
        raise BenchError(f"events-only phase: {pushed} pushes reached the partner (its filters should take none)")
    return {**res, "events": n, "rate": rate}


def deliveries(svc, redis, pids: dict[str, int], n: int, rate: float, timeout: float) -> dict:
    """`n` events at `rate`/s, each taken by every healthy partner: per delivery."""
    bodies = events(f"d{uuid.uuid4().hex[:6]}", n, CATEGORY)
    want = n * len(svc.healthy)
    svc.partner.reset()
    m = Meter(svc, redis, pids).start()
    Sender(svc.port).post_paced(bodies, rate, connections=4)
    deadline = time.time() + timeout
    while (st := svc.partner.stats())["unique"] < want:
        if time.time() > deadline:
            raise BenchError(f"deliveries phase: {st['unique']} of {want} pushes after {timeout:.0f}s; "
                             f"work left: {svc.busy()}")
        svc.alive()
        time.sleep(0.05)
    wait_quiet(svc, timeout, "deliveries phase")
    res = m.stop()
    return {**res, "events": n, "rate": rate, "deliveries": want, "received": st["unique"],
            "duplicates": st["total"] - st["unique"], "signed": st["signed"], "total": st["total"]}
