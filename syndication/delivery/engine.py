"""The delivery engine of one deliveries process: its pushers, the dispatcher that feeds them, their counts.

    engine = Engine(ctx)            # pushers: ctx.settings.delivery_in_flight
    engine.start()                  # workers/app.py: when the worker is ready
    engine.counts()                 # {"pushers": 128, "busy": 3, "batches": ..., "deliveries": ...}
    engine.stop()                   # at worker shutdown: batches in flight finish and record

Pushes in flight per process is a setting (`SYNDICATION_DELIVERY_IN_FLIGHT`), not Celery's `-c`:
real partners are 50-300 ms away and answer in 250 ms to 2 s, so throughput is bound by requests
in flight (Little's law: 1,000 deliveries/s at 250 ms needs 250 of them), not by cores. Each
pusher is a thread that runs one push batch at a time (push.py); a batch sends its deliveries one
after another, and a partner runs several batches at once up to its `max_in_flight` (the claim
splits what is due among its free slots, push.begin, and idle pushers start the other shares at
once: `_share`), so its requests overlap.

Why one dispatcher and idle pushers waiting in process, not every pusher blocking on Redis: a
thread blocked in BZPOPMIN holds a Redis connection (STACK.md, trap 17), hundreds of them would
need hundreds of connections per process; and a process takes a ready partner from Redis only
when one of its pushers is free to push it, so a busy process leaves the partner to another.
The dispatcher pops as many ready partners in one round trip as it has idle pushers.

Everything a batch relies on stays in Redis (push.py, schedule.py): slots, leases (renewed by
leases.py's one renewer thread), the circuit and pause. A process that dies mid-batch leaves its
deliveries to the sweeper, which also marks every partner with due deliveries ready once a second:
a pop lost with a dying process costs at most a second.
"""

from __future__ import annotations

import logging
import queue
import threading

from redis.exceptions import RedisError

from syndication.delivery import push, schedule
from syndication.infra.context import Context

log = logging.getLogger("syndication.delivery")
POP_WAIT = 1.0  # seconds the dispatcher blocks on the ready set before checking whether it must stop
REDIS_PAUSE = 1.0  # seconds to wait after a Redis error before trying again
STOP_WAIT = 20.0  # seconds stop() waits for batches in flight (each bounded by its partner's timeouts)


class Engine:
    """The pushers of one process, fed by one dispatcher; every count the process reports lives here."""

    def __init__(self, ctx: Context, pushers: int | None = None):
        self.ctx = ctx
        self.size = max(1, pushers or ctx.settings.delivery_in_flight)
        self.stopping = threading.Event()
        self.work: queue.Queue[str | None] = queue.Queue()
        self.idle = threading.Semaphore(self.size)  # one token per pusher free to take a partner
        self.lock = threading.Lock()
        self.busy = 0
        self.batches = 0
        self.deliveries = 0
        self.threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "Engine":
        self.threads = [threading.Thread(target=self._push_loop, name=f"pusher-{i}", daemon=True)
                        for i in range(self.size)]
        self.threads.append(threading.Thread(target=self._dispatch_loop, name="dispatcher", daemon=True))
        for t in self.threads:
            t.start()
        log.info("delivery engine started", extra={"pushers": self.size})
        return self

    def stop(self, timeout: float = STOP_WAIT) -> None:
        """Stop taking partners; batches in flight finish and record (bounded by their timeouts)."""
        self.stopping.set()
        for _ in range(self.size):
            self.work.put(None)
        for t in self.threads:
            t.join(timeout)

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {"pushers": self.size, "busy": self.busy, "batches": self.batches, "deliveries": self.deliveries}

    # -- the loops -------------------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        away = False
        while not self.stopping.is_set():
            if not self.idle.acquire(timeout=POP_WAIT):
                continue  # every pusher busy: leave ready partners to other processes meanwhile
            try:
                partners = self._pop()
            except RedisError as exc:
                self.idle.release()
                if not away:  # once per outage, not once a second
                    log.warning("engine: Redis unavailable (%s); trying again every %.0f s", exc, REDIS_PAUSE)
                away = True
                self.stopping.wait(REDIS_PAUSE)
                continue
            if away:
                log.warning("engine: Redis is back")
                away = False
            if not partners:
                self.idle.release()
                continue
            for pid in partners:
                self.work.put(pid)  # each took one idle token: the first above, the others in _pop

    def _pop(self) -> list[str]:
        """Block for one ready partner, then take as many more as there are idle pushers, in one round trip."""
        popped = self.ctx.redis.bzpopmin(self.ctx.keys.partners_ready, timeout=POP_WAIT)
        if not popped:
            return []
        found = [popped[1].decode()]
        extra = 0
        while extra < 256 and self.idle.acquire(blocking=False):
            extra += 1
        if extra:
            more = self.ctx.redis.zpopmin(self.ctx.keys.partners_ready, extra)
            found += [m.decode() for m, _ in more]
            for _ in range(extra - len(more)):
                self.idle.release()
        return found

    def _push_loop(self) -> None:
        while True:
            pid = self.work.get()
            if pid is None:
                return
            with self.lock:
                self.busy += 1
            try:
                self._push(pid)
            finally:
                with self.lock:
                    self.busy -= 1
                self.idle.release()

    def _share(self, partner_id: str, more: int) -> None:
        """The claim left work for `more` batches of this partner: idle pushers here start them now,
        each with its own claim, instead of one after another through the ready set (a Redis round
        trip and a dispatcher wake-up each); what no idle pusher takes, the ready set offers to all."""
        for _ in range(more):
            if not self.idle.acquire(blocking=False):
                return
            self.work.put(partner_id)

    def _push(self, partner_id: str) -> None:
        try:
            result = push.push_batch(self.ctx, partner_id, on_claim=self._share)
            if result.more_due:
                schedule.kick(self.ctx, [partner_id])
        except Exception:  # one partner's trouble must not stop a pusher; its work stays due
            log.exception("engine: push batch failed", extra={"partner": partner_id})
            self.stopping.wait(REDIS_PAUSE)
            return
        with self.lock:
            self.batches += 1
            self.deliveries += sum(result.outcomes.values())
