"""The Celery app: broker, queues, routes and the settings reliability depends on.

- acks late + reject on worker lost: a task whose worker dies is redelivered,
  not lost (our tasks are idempotent, so a redelivery is harmless);
- prefetch 1: a worker holds no extra messages it might sit on;
- JSON only; task events on (Flower);
- a worker consuming the deliveries queue hosts the delivery engine (delivery/engine.py):
  its pushers (SYNDICATION_DELIVERY_IN_FLIGHT per process, not Celery's -c) take ready
  partners from Redis and push their batches without a Celery message per batch; this
  module only starts and stops it;
- every worker runs housekeeping beside its pool (ops/housekeeping.py): its heartbeat
  and the sweeper (one sweep a second among all workers, by a Redis lock), so retries and
  re-drives go on whichever process is down; there is no beat;
- visibility_timeout far above the longest task (task_time_limit caps it), so
  Redis does not hand a running task to a second worker. Recovery from a
  dead worker does not wait for it: leases and the sweeper (1 s)
  re-drive lost work within 60 s.
- Celery's broker keys live under the same prefix as ours.
- with SYNDICATION_REDIS_SENTINELS the broker is kombu's Sentinel transport: every
  reconnect asks the sentinels for the current primary (infra/redis_client.py).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

from celery import Celery, signals
from kombu import Exchange, Queue

from syndication.infra.context import Context
from syndication.infra.keys import QUEUES
from syndication.infra.redis_client import broker_sentinel_options, broker_url
from syndication.configuration import load_settings
from syndication.settings import Settings

from workers import kombu_fixes

kombu_fixes.apply()

TASK_TIME_LIMIT = 600
VISIBILITY_TIMEOUT = 3 * TASK_TIME_LIMIT


def make_app(settings: Settings) -> Celery:
    app = Celery("syndication", broker=broker_url(settings), include=["workers.tasks"])
    app.conf.update(
        # One direct exchange per queue: a task lands on exactly one queue, never on all three.
        task_queues=[Queue(q, Exchange(q, type="direct"), routing_key=q) for q in QUEUES],
        task_default_queue="events",
        task_default_exchange="events",
        task_default_routing_key="events",
        task_routes={
            "syndication.apply_event": {"queue": "events"},
            "syndication.apply_events": {"queue": "events"},
            "syndication.render_feed": {"queue": "feeds"},
        },
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_time_limit=TASK_TIME_LIMIT,
        task_soft_time_limit=TASK_TIME_LIMIT - 30,
        worker_prefetch_multiplier=1,
        # The shape of `celery -A workers worker -Q <queue>` as written (DESIGN.md, Interfaces):
        # one process running tasks on threads, so partners-file reloads reach everything that
        # applies events or pushes, and the delivery engine's pushers live where the work is.
        # Celery uses these when the command line gives none, and runs the configured pool even for
        # an explicit `-P prefork` (STACK.md, trap 18); pools we cannot run are refused (below).
        worker_pool=settings.worker_pool,
        worker_concurrency=settings.worker_threads,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "global_keyprefix": f"{settings.key_prefix}celery:",
            "socket_connect_timeout": 2,
            "health_check_interval": 15,
            **broker_sentinel_options(settings),
        },
    )
    return app


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings(os.environ)


@lru_cache(maxsize=1)
def context() -> Context:
    """One context (and Redis connection pool) per worker process, shared by its threads."""
    return Context.build(settings())


def pool_refusal(pool_cls, queues: str = "<queue>") -> str | None:
    """Why this worker's pool cannot run the service correctly (one line, with what to run), or None."""
    module = getattr(pool_cls, "__module__", "") or ""
    run = f"run `celery -A workers worker -Q {queues}` (the app sets its threads pool)"
    if module.endswith(".prefork"):
        return (f"syndication: the prefork pool is refused: its child processes apply events and push without "
                f"the parent's partners-file reloads and delivery engine; {run}, one per core for more")
    if module.endswith((".gevent", ".eventlet")):
        return (f"syndication: the {module.rsplit('.', 1)[1]} pool is refused: it monkey-patches the threads and "
                f"Redis pool the delivery engine runs on; {run} and size pushes with SYNDICATION_DELIVERY_IN_FLIGHT")
    return None


@signals.worker_init.connect
def _refuse_pool(sender=None, **_):
    """A pool the service cannot run correctly stops the worker before it consumes anything."""
    import sys

    queues = ",".join(sorted(q.name for q in getattr(sender.app.amqp, "queues", {}).consume_from.values())) \
        if sender is not None and getattr(sender.app.amqp.queues, "consume_from", None) else "<queue>"
    refusal = pool_refusal(getattr(sender, "pool_cls", None), queues)
    if refusal:
        print(refusal, file=sys.stderr, flush=True)
        raise SystemExit(2)  # SystemExit: Celery's signal dispatch catches Exception, not this


@signals.setup_logging.connect
def _json_logs(loglevel=None, **_):
    """Workers log one JSON object per line, like the API (Celery's own lines included)."""
    from syndication.infra.logs import configure

    configure(loglevel or "INFO")


_loops: list = []  # (stopping event, threads) of this process's housekeeping
_engines: list = []  # the delivery engine of this process, if it consumes the deliveries queue


@signals.worker_ready.connect
def _start_loops(sender=None, **_):
    """Every worker runs housekeeping (heartbeat + sweeper); a worker consuming the deliveries
    queue also hosts the delivery engine (delivery/engine.py)."""
    from syndication.delivery.engine import Engine
    from syndication.ops import heartbeats, housekeeping
    from workers.tasks import dispatch

    queues = sorted(q.name for q in sender.task_consumer.queues) if sender and sender.task_consumer else []
    name = getattr(sender, "hostname", None) or f"worker@{os.getpid()}"
    if name.partition("@")[0] == "celery":  # Celery's default name: every bare worker of a host has it
        name = heartbeats.claim_name(context(), queues)
    if "deliveries" in queues:
        _engines.append(Engine(context()).start())
    counts = _engines[0].counts if _engines else None
    stopping, thread = housekeeping.start(context(), name, queues, dispatch, counts)
    _on_sighup(name)
    _loops.append((stopping, [thread]))


def _on_sighup(name: str) -> None:
    """SIGHUP reloads the partners file everywhere (ops/reload.py) instead of Celery's restart."""
    import signal
    import threading

    from syndication.errors import ConfigError
    from syndication.ops import reload

    def handler(signum, frame):
        def run():
            try:
                reload.request(context(), actor=f"SIGHUP {name}")
            except ConfigError as exc:
                logging.getLogger("syndication.config").error(
                    "SIGHUP: partners reload refused, the running configuration stays: %s", exc)
        threading.Thread(target=run, name="reload", daemon=True).start()  # not inside the signal frame

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, handler)


@signals.worker_shutdown.connect
def _stop_loops(**_):
    for stopping, _ in _loops:
        stopping.set()
    for engine in _engines:
        engine.stop()  # pushes in flight finish and record (bounded by their timeouts)
    for _, threads in _loops:
        for t in threads:
            t.join(timeout=15)


app = make_app(settings())
