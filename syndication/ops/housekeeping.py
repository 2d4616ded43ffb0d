"""Housekeeping: the loop every worker process runs beside its Celery pool.

    stop = housekeeping.start(ctx, name="feeds@host", queues=["feeds"], dispatch=dispatch)

Once a second it runs the sweeper (re-drives, retries coming due, lost renders; see
sweeper.py) and hands what it found to `dispatch`; every HEARTBEAT seconds it writes this
worker's heartbeat (heartbeats.py); every second it looks whether the partners file was
reloaded (ops/reload.py) and reports the configuration it runs (ops/running_config.py) at
once when that changes; after a sweep it ran, it samples the partners' queue ages every 10 s
(ops/queue_ages.py: the queue-age chart's hour); once a minute it trims delivery history and
the hub's ended subscriptions past retention.

Why in ops and not in the engine (pipeline/): it composes the engine's sweeper with ops' own
chores (heartbeats, reloads, retention); the engine never imports ops.

Why in every worker and not in beat: the sweep is what turns a scheduled retry into a push.
Run by one process (beat, or a task on one queue), that process was a single point of failure
nobody watched: with it down, retries to *healthy* partners stalled and nothing said why.
Every worker runs the loop; a Redis lock lets one sweep run per second among them, so any
one process can die and sweeping goes on. It also keeps sweeps out of Celery: no task
message per second, no noise in Flower.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from redis.exceptions import RedisError

from syndication.delivery import retention, subscription_ends
from syndication.infra.context import Context
from syndication.ops import heartbeats, queue_ages, reload, running_config
from syndication.pipeline import sweeper

log = logging.getLogger("syndication.sweeper")
SWEEP_EVERY = 1.0
RETENTION_EVERY = 60.0


def run(ctx: Context, stopping: threading.Event, name: str, queues: list[str], dispatch: Callable,
        counts: Callable[[], dict] | None = None) -> None:
    """`counts`: the process's delivery engine counts, reported in its heartbeat (None: no engine)."""
    started = time.time()
    next_beat = next_trim = 0.0
    following = reload.Following()
    away = False
    while not stopping.is_set():
        now = time.time()
        try:
            # A reload is looked for every second (one round trip) and reported at once: `partners
            # reload` waits on the report.
            if reload.follow(ctx, following) or now >= next_beat:
                heartbeats.beat(ctx, name, queues, started, now, config_version=following.applied,
                             engine=counts() if counts else None)
                reload.report(ctx, name, "worker", following)
                next_beat = now + heartbeats.HEARTBEAT
            found = sweeper.sweep(ctx, now)
            if found.outcome == "ran":
                dispatch(found)
                log.debug("sweep", extra={"outcome": found.outcome})
                queue_ages.sample(ctx, now)  # under the sweep's lock: one process samples at a time
            if now >= next_trim:
                next_trim = now + RETENTION_EVERY
                retention.trim(ctx, now)
                subscription_ends.trim(ctx, now)
            if away:
                log.warning("housekeeping: Redis is back", extra={"worker": name})
                away = False
        except (RedisError, OSError) as exc:
            if not away:  # once per outage, not once a second
                log.error("housekeeping: Redis unavailable (%s); sweeps and heartbeats paused", exc,
                          extra={"worker": name})
            away = True
        except Exception:  # a bug in one sweep must not end sweeping for good
            log.exception("housekeeping: sweep failed", extra={"worker": name})
        stopping.wait(SWEEP_EVERY)
    try:
        heartbeats.leave(ctx, name)
        running_config.leave(ctx, name)
    except RedisError:
        pass


def start(ctx: Context, name: str, queues: list[str], dispatch: Callable,
          counts: Callable[[], dict] | None = None) -> tuple[threading.Event, threading.Thread]:
    stopping = threading.Event()
    thread = threading.Thread(target=run, args=(ctx, stopping, name, queues, dispatch, counts),
                              name="housekeeping", daemon=True)
    thread.start()
    return stopping, thread
