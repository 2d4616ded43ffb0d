"""Which worker processes the service runs, and with what pools: one answer for every launcher.

`syndication up`, docker-compose's defaults (documented in the README) and the benchmarks all
start the service's Celery workers from `worker_commands()`, so what is measured is what runs.

Why these shapes:

- deliveries: several *processes* (one per core by default), each hosting a delivery engine
  (delivery/engine.py) with SYNDICATION_DELIVERY_IN_FLIGHT pushers (hundreds: real partners
  answer in hundreds of milliseconds, so pushes in flight, not cores, bound throughput). A
  push is CPU-bound between its HTTP round trips (render, sign, requests' own overhead), so
  one Python process tops out at one core (the GIL): processes scale with cores. The Celery
  pool of a deliveries worker runs no tasks (pushes are not Celery tasks); its -c is moot.
- events: one process; events are applied in batches (one task drains many), so two threads
  are enough to overlap Redis round trips.
- feeds: one process with two threads; renders are coalesced per feed (the render lock).

`SYNDICATION_DELIVERY_PROCESSES` overrides the number of deliveries processes (README, "Scaling");
`SYNDICATION_DELIVERY_IN_FLIGHT` (settings) the pushers of each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DELIVERY_THREADS = 4


@dataclass(frozen=True)
class WorkerSpec:
    name: str  # process name (also the Celery node name's prefix)
    queue: str
    pool: str
    concurrency: int

    def args(self) -> list[str]:
        """Arguments after `celery -A workers worker`."""
        return ["-Q", self.queue, "-P", self.pool, "-c", str(self.concurrency), "-n", f"{self.name}@%h"]


def delivery_processes(env=os.environ) -> int:
    raw = env.get("SYNDICATION_DELIVERY_PROCESSES")
    if raw:
        return max(1, int(raw))
    return max(2, os.cpu_count() or 1)


def worker_specs(env=os.environ) -> list[WorkerSpec]:
    threads = max(1, int(env.get("SYNDICATION_DELIVERY_THREADS") or DELIVERY_THREADS))
    n = delivery_processes(env)
    specs = [WorkerSpec("events", "events", "threads", 2), WorkerSpec("feeds", "feeds", "threads", 2)]
    specs += [WorkerSpec(f"deliveries{i + 1}" if n > 1 else "deliveries", "deliveries", "threads", threads)
              for i in range(n)]
    return specs
