"""Pumps: long-lived loops in each deliveries worker that take ready partners and push their batches.

    schedule.kick(ctx, partners)   a partner has due deliveries: into `partners:ready` (once)
    run(ctx, stopping)             a pump: pop the partner ready longest, push one batch, repeat

Why not one Celery task per batch: a Celery task costs its worker 1.2-1.7 ms of CPU (receive,
decode, ack, task events) before our code runs, as much as two POSTs. At a steady stream
(say 100 events/s to 10 partners) each batch holds one delivery, so one task per batch spent
more CPU on Celery than on partners and could not keep up. A pump waits on Redis
(BZPOPMIN, no CPU while idle), wakes the moment a partner is marked ready, and goes back to
waiting: a push costs its HTTP request and a few Redis round trips, nothing more.

Everything a batch relies on stays in Redis, as before: a partner's `max_in_flight` slots
(a pump that pops a partner whose slots are all taken drops it: the running batches mark it
ready again if they leave work), leases (a pump that dies mid-batch leaves its deliveries to
the sweeper), the circuit and pause. The sweeper marks every partner with due deliveries
ready once a second, so a pop lost with a dying worker costs at most a second; a paused or
open partner is popped about once a second and dropped at once.

Each deliveries worker process runs as many pumps as its Celery concurrency (workers/app.py
starts them when the worker is ready and stops them when it shuts down). Celery still
carries `push_batch` messages, which the pool threads run the same way.
"""

from __future__ import annotations

import logging
import threading

from redis.exceptions import RedisError

from syndication.infra.context import Context
from syndication.pipeline import steps

log = logging.getLogger("syndication.delivery")
POP_WAIT = 1.0  # seconds a pump blocks on the ready set before checking whether it must stop
REDIS_PAUSE = 1.0  # seconds a pump waits after a Redis error before trying again


def run(ctx: Context, stopping: threading.Event) -> None:
    """Pump until `stopping` is set: one push batch (steps.push_batch) for each partner popped."""
    away = False
    while not stopping.is_set():
        try:
            popped = ctx.redis.bzpopmin(ctx.keys.partners_ready, timeout=POP_WAIT)
        except RedisError as exc:
            if not away:  # once per outage, not once a second
                log.warning("pump: Redis unavailable (%s); trying again every %.0f s", exc, REDIS_PAUSE)
            away = True
            stopping.wait(REDIS_PAUSE)
            continue
        if away:
            log.warning("pump: Redis is back")
            away = False
        if not popped:
            continue
        partner_id = popped[1].decode()
        try:
            steps.push_batch(ctx, partner_id)  # marks the partner ready again if it left work
        except Exception:  # one partner's trouble must not stop the pump; its work stays due
            log.exception("pump: push batch failed", extra={"partner": partner_id})
            stopping.wait(REDIS_PAUSE)


def start(ctx: Context, count: int) -> tuple[threading.Event, list[threading.Thread]]:
    """Start `count` pumps as daemon threads; set the returned event to stop them."""
    stopping = threading.Event()
    threads = [threading.Thread(target=run, args=(ctx, stopping), name=f"pump-{i}", daemon=True)
               for i in range(count)]
    for t in threads:
        t.start()
    return stopping, threads
