"""Which worker processes the service runs, and with what pools: one answer for every launcher.

`syndication up`, docker-compose's defaults (documented in the README) and the benchmarks all
start the service's Celery workers from `worker_commands()`, so what is measured is what runs.

Why these shapes:

- deliveries: several *processes* (one per core by default), each hosting a delivery engine
  (delivery/engine.py) with SYNDICATION_DELIVERY_IN_FLIGHT pushers (hundreds: real partners
  answer in hundreds of milliseconds, so pushes in flight, not cores, bound throughput). A
  push is CPU-bound between its HTTP round trips (render, sign, requests' own overhead), so
  one Python process tops out at one core (the GIL): processes scale with cores. The Celery
  pool of a deliveries worker runs no tasks (pushes are not Celery tasks), so it is not sized on
  its own any more (SYNDICATION_DELIVERY_THREADS is retired).
- events: one process; events are applied in batches (one task drains many), so two threads
  are enough to overlap Redis round trips.
- feeds: one process with two threads; renders are coalesced per feed (the render lock).

Every number comes from Settings (settings/model.py: `delivery_processes` from
SYNDICATION_DELIVERY_PROCESSES, `worker_pool`, `worker_threads`; `delivery_in_flight` the pushers
of each deliveries process), so `config check` checks them and `status` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from syndication.configuration import load_settings
from syndication.settings import Settings


@dataclass(frozen=True)
class WorkerSpec:
    name: str  # process name (also the Celery node name's prefix)
    queue: str
    pool: str
    concurrency: int

    def args(self) -> list[str]:
        """Arguments after `celery -A workers worker`."""
        return ["-Q", self.queue, "-P", self.pool, "-c", str(self.concurrency), "-n", f"{self.name}@%h"]


def worker_specs(settings: Settings | Mapping[str, str]) -> list[WorkerSpec]:
    """The worker processes for these settings (or the environment to read them from: benchmarks
    and tests hand one): events, feeds, and `delivery_processes` deliveries workers, each with the
    settings' pool and threads."""
    if not isinstance(settings, Settings):
        settings = load_settings(settings)
    pool, threads, n = settings.worker_pool, settings.worker_threads, settings.delivery_processes
    specs = [WorkerSpec("events", "events", pool, threads), WorkerSpec("feeds", "feeds", pool, threads)]
    specs += [WorkerSpec(f"deliveries{i + 1}" if n > 1 else "deliveries", "deliveries", pool, threads)
              for i in range(n)]
    return specs
