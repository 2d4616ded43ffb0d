"""The fault cluster: redis-server (AOF everysec), API, one worker per queue, partners a and b; its faults.

Partners are real HTTP servers on 127.0.0.1 that record every request. The faults: kill -9
a process while it holds work (`kill_when_busy`), pause Redis's writes while work is in
flight (`freeze_redis_when_busy`), another sweeper (`extra_worker`); then `settle` waits
until nothing is pending, due, in flight or rendering.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import yaml

from syndication.configuration import load_settings
from syndication.delivery import schedule
from syndication.infra.context import Context
from tests.faults.harness import inflight
from tests.faults.harness.config import API_KEY, PARTNERS, SECRET, Timing
from tests.faults.harness.inflight import InFlight
from tests.faults.harness.processes import RedisProc, parallel
from tests.support.processes import Proc, api, free_port, wait_for, worker
from tests.support.receiver import Receiver


class Cluster:
    """The whole service as OS processes on a redis-server of its own, with two partners a and b.

    A context manager: entering starts everything (cold starts overlap), leaving kills it all.
    """

    def __init__(self, tmp: Path, *, partner_b: dict | None = None):
        assert free_port() != 6379
        self.tmp = tmp
        self.redis = RedisProc(tmp, free_port())
        self.partners = {"a": Receiver.start(), "b": Receiver.start()}
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        partners_file = tmp / "partners.yaml"
        t = Timing
        timeouts = {"connect": t.CONNECT, "read": t.READ}
        b = {"id": "b", "url": self.partners["b"].url, "format": "json", "allow_private_network": True,
             "auth": {"type": "standard-webhooks", "secret_env": "B_SECRET"},
             "filters": {"categories": ["Economy"]}, "retry": t.RETRY, "timeouts": timeouts,
             "breaker_threshold": t.BREAKER_THRESHOLD, "breaker_cooldown": t.BREAKER_COOLDOWN,
             **(partner_b or {})}
        partners_file.write_text(yaml.safe_dump({"partners": [
            {"id": "a", "url": self.partners["a"].url, "format": "json", "allow_private_network": True,
             "retry": t.RETRY, "timeouts": timeouts},
            b,
        ]}))
        # What each partner wants, restated here (not asked of the service): categories, [] = all.
        self.wanted = {"a": [], "b": list(b["filters"].get("categories") or [])}
        feeds_file = tmp / "feeds.yaml"
        feeds_file.write_text(yaml.safe_dump({"feeds": [
            {"name": "all", "title": "All"},
            {"name": "economy", "title": "Economy", "filters": {"categories": ["Economy"]}},
        ]}))
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
            "SYNDICATION_REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/0",
            "SYNDICATION_API_KEYS": API_KEY,
            "SYNDICATION_PARTNERS_FILE": str(partners_file),
            "SYNDICATION_FEEDS_FILE": str(feeds_file),
            "SYNDICATION_BASE_URL": self.api_url,
            "SYNDICATION_EVENT_REDRIVE_AFTER": str(t.REDRIVE_AFTER),
            "SYNDICATION_RENDER_WINDOW": str(t.RENDER_WINDOW),
            "B_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
        }
        self.procs = {
            "api": api(self.env, tmp, port),
            "events": worker("events", self.env, tmp, concurrency=4),
            "feeds": worker("feeds", self.env, tmp, concurrency=2),
            "deliveries": worker("deliveries", self.env, tmp, concurrency=8),
        }
        self.extra: list[Proc] = []
        self.ctx: Context | None = None

    def __enter__(self) -> "Cluster":
        self.redis.start()
        self.ctx = Context.build(load_settings(self.env))
        # The bounds below assume the lease the docs state (docs/explanation/promises.md); the service must use that lease.
        for p in self.ctx.settings.targets:
            assert schedule.lease_seconds(p) == Timing.LEASE, (p.id, schedule.lease_seconds(p))
        parallel(p.start for p in self.procs.values())  # cold starts overlap: ~3 s instead of ~7
        return self

    def __exit__(self, *exc) -> None:
        # Nothing is checked after a test ends: kill everything at once instead of waiting for
        # each worker's warm shutdown.
        for p in [*self.procs.values(), *self.extra]:
            p.kill()
        self.redis.kill()
        for r in self.partners.values():
            r.stop()

    def restart(self, name: str) -> None:
        self.procs[name].start()

    def extra_worker(self, queue: str) -> Proc:
        """One more worker on `queue` (another sweeper competing for the sweep lock)."""
        extra = worker(queue, self.env, self.tmp, concurrency=2)
        extra.name = f"{queue}2"
        extra.log = self.tmp / f"{queue}2.log"
        extra.argv = [a.replace(f"{queue}-", f"{queue}2-") if a.startswith(f"{queue}-") else a for a in extra.argv]
        self.extra.append(extra)
        return extra.start()

    # -- faults --------------------------------------------------------------------------

    def in_flight(self) -> InFlight:
        """Everything taken and unfinished, in one round trip."""
        return inflight.read(self.ctx)

    def kill_when_busy(self, name: str, busy, timeout: float = 30.0) -> tuple[InFlight, int]:
        """kill -9 process `name` at a moment it holds work, and return that work.

        The process group is frozen (SIGSTOP) before Redis is read, so what the snapshot says
        it holds is exactly what dies with it; if it holds nothing it is thawed and we try
        again a few milliseconds later. `busy(snapshot)` says whether the snapshot will do.
        """
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        tries = 0
        while True:
            tries += 1
            os.killpg(proc.p.pid, signal.SIGSTOP)
            snap = self.in_flight()
            if busy(snap):
                os.killpg(proc.p.pid, signal.SIGKILL)  # SIGKILL ends a stopped process too
                proc.p.wait(10)
                return snap, tries
            os.killpg(proc.p.pid, signal.SIGCONT)
            assert time.monotonic() < deadline, f"{name} never held work in flight in {timeout} s ({tries} looks)"
            time.sleep(random.uniform(0.005, 0.03))

    def freeze_redis_when_busy(self, busy, timeout: float = 30.0) -> tuple[InFlight, int]:
        """Pause every write (CLIENT PAUSE WRITE) at a moment work is in flight, and return it.

        Once writes are paused nothing changes until the crash that follows, so the snapshot
        is exactly the state the crash interrupts; reads (this snapshot) still run.
        """
        deadline = time.monotonic() + timeout
        tries = 0
        while True:
            tries += 1
            self.ctx.redis.execute_command("CLIENT", "PAUSE", 30000, "WRITE")
            snap = self.in_flight()
            if busy(snap):
                return snap, tries
            self.ctx.redis.execute_command("CLIENT", "UNPAUSE")
            assert time.monotonic() < deadline, f"nothing was in flight in {timeout} s ({tries} looks)"
            time.sleep(random.uniform(0.005, 0.03))

    def watch_leases(self, snap: InFlight, timeout: float = 120) -> dict[str, float]:
        """When each delivery leased in `snap` leaves its partner's in-flight set (polled every 50 ms).

        Only the worker that claimed it (here: dead) or the sweeper, once the lease has expired,
        takes an id out of in-flight; filled in by a thread as it happens.
        """
        left: dict[str, float] = {}
        watched = [(pid, did) for pid, ids in snap.deliveries.items() for did in ids]

        def loop():
            deadline = time.time() + timeout
            while len(left) < len(watched) and time.time() < deadline:
                pipe = self.ctx.redis.pipeline(transaction=False)
                for pid, did in watched:
                    pipe.zscore(self.ctx.keys.partner_inflight(pid), did)
                now = time.time()
                for (pid, did), score in zip(watched, pipe.execute()):
                    if score is None and did not in left:
                        left[did] = now
                time.sleep(0.05)

        threading.Thread(target=loop, daemon=True).start()
        return left

    def feed_rendered_at(self, name: str) -> float:
        return float(self.ctx.redis.hget(self.ctx.keys.feed_stats(name), "last_render_at") or 0)

    # -- end state -------------------------------------------------------------------------

    def settle(self, deadline: float) -> None:
        k = self.ctx.keys

        def quiet():
            r = self.ctx.redis
            busy = {"events_pending": r.zcard(k.events_pending), "feeds_dirty": r.zcard(k.feeds_dirty),
                    # A render queued or running holds its lock until its bytes are stored.
                    "renders": sum(r.exists(k.feed_render_lock(f.name)) for f in self.ctx.settings.feeds)}
            for pid in PARTNERS:
                busy[f"{pid}_due"] = r.zcard(k.partner_due(pid))
                busy[f"{pid}_inflight"] = r.zcard(k.partner_inflight(pid))
            return not any(busy.values()) or {key: v for key, v in busy.items() if v}

        last: list = [None]

        def settled() -> bool:
            last[0] = quiet()
            return last[0] is True

        try:
            wait_for(settled, timeout=max(1.0, deadline - time.time()), interval=0.5, what="the service to settle")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; still busy at the end: {last[0]}") from None

    def wants(self, partner: str, event: dict) -> bool:
        cats = self.wanted[partner]
        return not cats or bool(set(cats) & set(event["article"].get("categories") or []))
