"""What the benchmark POSTs events to: the real service, or the naive baseline.

Both give the same handle: `port` (POST /v1/events there), `n` partners and the `healthy` ones,
`partner` (the fast partner server), `pids()` (label -> pid of every process to measure; a label's
role is its name without trailing digits or `.N`), `alive()`, `applied()` (every accepted event
applied, or None where there is no such thing) and `busy()` (work left, for settling).

`Service` starts the processes exactly as `syndication up` does: `syndication api`, one Celery
worker per spec of syndication.cli.topology.worker_specs(env) (several deliveries processes).
Its Redis may be reached through the delay proxy (`redis_url`); the driver itself always talks to
Redis directly, and counts its own commands so that they can be left out of the service's.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.harness import HOST, OPS_KEY, BenchError, processes
from benchmarks.harness.cpu import children
from benchmarks.harness.partner import Partner
from benchmarks.harness.publish import Sender
from benchmarks.pushbench.workload import (SECRET_ENV, check_signed, make_event, partner_ids, write_feeds_file,
                                           write_partners_file)

KEY_PREFIX = "benchpush:"


def role(label: str) -> str:
    """deliveries2 -> deliveries; naive-worker.1 -> naive-worker."""
    return label.split(".", 1)[0].rstrip("0123456789")


class _Target:
    partner: Partner
    n: int
    healthy: list[str]
    port: int
    procs: dict[str, processes.Proc]

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items()}

    def alive(self) -> None:
        for p in self.procs.values():
            p.alive()
        self.partner.proc.alive()

    def applied(self) -> bool | None:
        return None

    def busy(self) -> dict:
        return {}

    def wait_received(self, want: int, timeout: float, what: str) -> dict:
        deadline = time.time() + timeout
        while (st := self.partner.stats())["unique"] < want:
            if time.time() > deadline:
                raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}: the partner has {st['unique']} "
                                 f"of {want} pushes; work left: {self.busy()}")
            self.alive()
            time.sleep(0.02)
        return st

    def warm_up(self, run: str, n_events: int, secret: str) -> None:
        """A few events through the whole path, every push signed and the first verified."""
        base = datetime.now(UTC) - timedelta(hours=1)
        bodies = [make_event(f"{run}w", i, base + timedelta(seconds=i))[2] for i in range(n_events)]
        self.partner.reset()
        Sender(self.port).post_all(bodies, threads=2)
        st = self.wait_received(n_events * len(self.healthy), 90, "the warm-up pushes")
        check_signed(self.partner, st, secret, f"the warm-up ({type(self).__name__}, {self.n} partners)")


class Service(_Target):
    """One fresh service (API, the workers of worker_specs) for one partners file; stopped on exit."""

    def __init__(self, procs: processes.Processes, redis_url: str, partner: Partner, n_partners: int, logdir: Path,
                 secret: str, *, tag: str, service_redis_url: str | None = None, hanging: int = 0):
        self.procs_all, self.partner, self.n, self.secret = procs, partner, n_partners, secret
        ids = partner_ids(n_partners)
        hung = set(ids[len(ids) - hanging:]) if hanging else set()
        self.healthy = [p for p in ids if p not in hung]
        self.port = processes.free_port()
        partners_file, feeds_file = logdir / f"partners-{tag}.yaml", logdir / "feeds.yaml"
        write_partners_file(partners_file, n_partners, partner, hung)
        write_feeds_file(feeds_file)
        extra = {"SYNDICATION_PARTNERS_FILE": str(partners_file), "SYNDICATION_FEEDS_FILE": str(feeds_file),
                 "SYNDICATION_OPS_KEYS": OPS_KEY, SECRET_ENV: secret}
        env = processes.service_env(service_redis_url or redis_url, self.port, KEY_PREFIX, extra)
        self.specs = processes.worker_specs(env)
        self.procs = {"api": processes.api_proc(env, self.port, logdir, name=f"{tag}-api")}
        for spec in self.specs:
            self.procs[spec.name] = processes.spec_proc(spec, env, logdir, tag=f"{tag}-")
        # The driver reads the service's keys directly, never through the proxy.
        self.ctx = processes.service_context({**env, "SYNDICATION_REDIS_URL": redis_url})
        self.driver_cmds = self.driver_reads = 0

    def __enter__(self) -> Service:
        self.ctx.redis.flushdb()
        for p in self.procs.values():
            self.procs_all.start(p)
        processes.wait_api(self.procs["api"], self.port, 60)
        return self

    def __exit__(self, *exc) -> None:
        self.procs_all.stop(self.procs.values())

    def applied(self) -> bool:
        self.driver_cmds += 1
        self.driver_reads += 1
        return self.ctx.redis.zcard(self.ctx.keys.events_pending) == 0

    def busy(self, partners: list[str] | None = None) -> dict:
        r, k = self.ctx.redis, self.ctx.keys
        pipe = r.pipeline(transaction=False)
        pipe.zcard(k.events_pending)
        for pid in partners if partners is not None else self.healthy:
            pipe.zcard(k.partner_due(pid))
            pipe.zcard(k.partner_inflight(pid))
        vals = pipe.execute()
        self.driver_cmds += len(vals)
        self.driver_reads += 1
        return {"events_pending": vals[0], "due": sum(vals[1::2]), "inflight": sum(vals[2::2])}

    def warm_up(self, run: str, n_events: int, secret: str) -> None:
        """Also proves every process is up: the workers' first sweep and the feeds worker's first render."""
        super().warm_up(run, n_events, secret)
        r, k = self.ctx.redis, self.ctx.keys
        deadline = time.time() + 60
        while not (float(r.hget(f"{k.prefix}metrics:sweeps", "outcome=ran") or 0) > 0
                   and r.exists(k.feed_rendered("all", "json"))):
            if time.time() > deadline:
                raise BenchError("timed out waiting for the workers' first sweep and the feeds worker's first "
                                 f"render; feeds log:\n{self.procs['feeds'].tail(10)}")
            self.alive()
            time.sleep(0.1)
        self.wait_quiet()

    def wait_quiet(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while any(self.busy().values()) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # a render in its window, the last acks
        self.partner.reset()

    def commands(self) -> list[str]:
        return processes.commands(self.procs.values())


class Naive(_Target):
    """The naive baseline (benchmarks/naive/): a tiny FastAPI app + a prefork -c 2 worker, one task per event."""

    def __init__(self, procs: processes.Processes, broker_url: str, partner: Partner, n_partners: int, logdir: Path,
                 secret: str, workers: int = 2):
        self.procs_all, self.partner, self.n = procs, partner, n_partners
        self.healthy = partner_ids(n_partners)
        self.port = processes.free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNDICATION_", "NAIVE_"))}
        env.update({"NAIVE_BROKER_URL": broker_url, SECRET_ENV: secret, "PYTHONUNBUFFERED": "1",
                    "NAIVE_PARTNERS": ",".join(partner.url(p) for p in self.healthy)})
        tag = f"naive{n_partners}"
        app = [sys.executable, "-m", "uvicorn", "benchmarks.naive.app:app", "--host", HOST, "--port", str(self.port),
               "--no-access-log", "--log-level", "warning"]
        worker = [sys.executable, "-m", "celery", "-A", "benchmarks.naive.tasks", "worker", "-P", "prefork",
                  "-c", str(workers), "-Q", "celery", "-n", f"{tag}@%h", "--without-gossip", "--without-mingle",
                  "-l", "info"]
        self.procs = {"naive-api": processes.Proc(f"{tag}-api", app, env, logdir),
                      "naive-worker": processes.Proc(f"{tag}-worker", worker, env, logdir)}
        self.broker_url = broker_url

    def __enter__(self) -> Naive:
        import redis

        redis.Redis.from_url(self.broker_url).flushdb()
        for p in self.procs.values():
            self.procs_all.start(p)
        self.procs["naive-worker"].wait_log(" ready.", 60)
        processes.wait_api(self.procs["naive-api"], self.port, 60)
        return self

    def __exit__(self, *exc) -> None:
        self.procs_all.stop(self.procs.values())

    def pids(self) -> dict[str, int]:
        pids = super().pids()
        for i, child in enumerate(children(pids["naive-worker"])):  # the prefork pool's processes
            pids[f"naive-worker.{i + 1}"] = child
        return pids

    def commands(self) -> list[str]:
        return processes.commands(self.procs.values())
