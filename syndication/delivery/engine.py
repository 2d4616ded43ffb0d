"""The delivery engine of one deliveries process: the dispatcher, its pushers, the recorder, their counts.

    engine = Engine(ctx)            # pushers: ctx.settings.delivery_in_flight
    engine.start()                  # workers/app.py: when the worker is ready
    engine.counts()                 # {"pushers": 128, "busy": 3, "batches": ..., "deliveries": ...}
    engine.stop()                   # at worker shutdown: batches in flight finish and record

Pushes in flight per process is a setting (`SYNDICATION_DELIVERY_IN_FLIGHT`), not Celery's `-c`:
real partners are 50-300 ms away and answer in 250 ms to 2 s, so throughput is bound by requests
in flight (Little's law: 1,000 deliveries/s at 250 ms needs 250 of them), not by cores.

A wave: the dispatcher pops as many ready partners as it has idle pushers (one round trip),
claims a batch of each (schedule.claim_many: slots, pause and circuit in the same script, one round
trip), reads what every batch needs (push.load_many: two round trips for the wave, each article
once) and hands each batch to a pusher. A pusher is a thread that sends its batch (push.run: one
request after another; a partner with more due and free slots is marked ready again by its claim,
so the next wave gives it another batch: its requests run concurrently up to `max_in_flight`)
and hands the batch's last group to the recorder (recorder.py), which writes the outcomes of
many batches of many partners in one transaction. So what a batch costs in Redis round trips is
paid per wave and per transaction, not per partner per event: at wide fan-out (a breaking story
to 500 partners, one delivery each) that was most of a delivery's CPU.

Why one dispatcher, and idle pushers waiting in process rather than on Redis: a thread blocked
in BZPOPMIN holds a Redis connection (STACK.md, trap 17); and a process takes a ready partner
only when a pusher is free to push it, so a busy process leaves the partner to another.

Our WebSub hub's subscribers (delivery/targets.py) hold at most half of a process's pushers
(HUB_SHARE): a thousand callbacks that hang take no pusher a partner needs.

A partner its rate limit holds back (delivery/ratelimit.py) is not claimed and holds no pusher:
its claim says when it may send again and a timer marks it ready then.

Everything a batch relies on stays in Redis: slots, leases (renewed by leases.py's one renewer
thread), the circuit and pause. A process that dies mid-batch leaves its deliveries to the
sweeper, which also marks every partner with due deliveries ready once a second: a pop lost with
a dying process costs at most a second.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid

from redis.exceptions import RedisError

from syndication.delivery import push, schedule, targets
from syndication.delivery.recorder import Recorder
from syndication.infra.context import Context
from syndication.partners.target import is_subscriber

log = logging.getLogger("syndication.delivery")
POP_WAIT = 1.0  # seconds the dispatcher blocks on the ready set before checking whether it must stop
REDIS_PAUSE = 1.0  # seconds to wait after a Redis error before trying again
STOP_WAIT = 20.0  # seconds stop() waits for batches in flight (each bounded by its partner's timeouts)
MAX_WAVE = 256  # partners claimed in one round trip
# Our WebSub hub's subscribers may hold at most this share of a process's pushers at once: anyone may
# subscribe, and callbacks that all hang must not take the pushers partners need. A subscriber past
# it is marked ready again HUB_WAIT later (here or in another process with room).
HUB_SHARE = 0.5
HUB_WAIT = 0.25


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
        self.waking: set[str] = set()  # partners with a timer to mark them ready (rate limits)
        self.hub_cap = max(1, int(self.size * HUB_SHARE))
        self.hub_busy = 0  # pushers a hub subscriber holds, or reserved for one in the wave being claimed
        self.threads: list[threading.Thread] = []
        self.recorder: Recorder | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "Engine":
        self.recorder = Recorder(self.ctx, done=self._done)
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
        if self.recorder is not None:
            self.recorder.stop()  # after the pushers: their last groups are written

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
                self._wave()
            except Exception as exc:  # claimed deliveries stay leased: the sweeper hands them back
                if not away:  # once per outage, not once a second
                    log.warning("engine: a wave failed (%s); trying again every %.0f s", exc, REDIS_PAUSE,
                                exc_info=not isinstance(exc, RedisError))
                away = True
                self.stopping.wait(REDIS_PAUSE)
            else:
                if away:
                    log.warning("engine: waves run again")
                    away = False

    def _wave(self) -> None:
        """Pop ready partners for the idle pushers (one idle token held on entry, more taken by _pop),
        claim and load a batch of each, hand the batches to pushers: each keeps one token until its
        pusher is done; the others are given back here, whatever happens."""
        held, handed, reserved = 1, 0, []
        try:
            popped = self._pop()
            held = max(1, len(popped))
            popped, reserved = self._hub_room(popped)
            ctx = self.ctx.pinned()  # one settings snapshot for the wave and its batches
            partners = [t for t in targets.resolve(ctx, popped) if t is not None]  # one round trip for subscribers
            claims = schedule.claim_many(ctx, [(p, uuid.uuid4().hex) for p in partners], time.time())
            self._wake_later([(p.id, c.wake) for p, c in zip(partners, claims) if c.wake])
            # The others: busy, paused, cooling, empty, throttled.
            batches = [(p, c) for p, c in zip(partners, claims) if c[1]]
            loaded = push.load_many(ctx, [(p.id, c[1]) for p, c in batches]) if batches else []
            for (partner, claim), data in zip(batches, loaded):
                if is_subscriber(partner.id):
                    reserved.remove(partner.id)  # its pusher gives it back (_push_loop)
                self.work.put((ctx, partner, claim, data))
                handed += 1
        finally:
            for _ in range(held - handed):
                self.idle.release()
            if reserved:
                with self.lock:
                    self.hub_busy -= len(reserved)

    def _hub_room(self, popped: list[str]) -> tuple[list[str], list[str]]:
        """The popped ids this wave may claim, and the subscribers reserved among them: at most
        `hub_cap` pushers of this process go to hub subscribers; the rest are marked ready later."""
        subs = [pid for pid in popped if is_subscriber(pid)]
        if not subs:
            return popped, []
        with self.lock:
            room = max(0, self.hub_cap - self.hub_busy)
            take = subs[:room]
            self.hub_busy += len(take)
        later = subs[len(take):]
        if later:
            self._wake_later([(pid, time.time() + HUB_WAIT) for pid in later])
        kept = set(take)
        return [pid for pid in popped if pid in kept or not is_subscriber(pid)], take

    def _wake_later(self, wakes: list[tuple[str, float]]) -> None:
        """Partners their rate limit held back are marked ready when it lets them send again (their
        claim said when), not at the next sweep; one timer per partner per process at a time."""
        for pid, at in wakes:
            with self.lock:
                if pid in self.waking:
                    continue
                self.waking.add(pid)
            timer = threading.Timer(max(0.0, at - time.time()), self._wake, (pid,))
            timer.daemon = True
            timer.start()

    def _wake(self, pid: str) -> None:
        with self.lock:
            self.waking.discard(pid)
        if not self.stopping.is_set():
            try:
                schedule.mark_ready(self.ctx, [pid])
            except RedisError:  # the sweeper marks it ready within a second
                pass

    def _pop(self) -> list[str]:
        """Block for one ready partner, then take as many more as there are idle pushers, in one round trip."""
        first = schedule.pop_ready(self.ctx, POP_WAIT)
        if first is None:
            return []
        extra = 0
        while extra < MAX_WAVE - 1 and self.idle.acquire(blocking=False):
            extra += 1
        more = []
        try:
            if extra:
                more = schedule.pop_more_ready(self.ctx, extra)
        except RedisError:  # the one popped still goes out; the sweeper marks the rest ready again
            pass
        finally:
            for _ in range(extra - len(more)):
                self.idle.release()
        return [first, *more]

    def _push_loop(self) -> None:
        while True:
            item = self.work.get()
            if item is None:
                return
            with self.lock:
                self.busy += 1
            try:
                self._push(*item)
            finally:
                with self.lock:
                    self.busy -= 1
                    if is_subscriber(item[1].id):
                        self.hub_busy -= 1
                self.idle.release()

    def _push(self, ctx, partner, claim, loaded) -> None:
        try:
            push.run(ctx, partner, claim, loaded=loaded, recorder=self.recorder)
        except Exception:  # one partner's trouble must not stop a pusher; its work stays leased, then due
            log.exception("engine: push batch failed", extra={"partner": partner.id})
            self.stopping.wait(REDIS_PAUSE)

    def _done(self, result) -> None:
        """A batch's outcomes are written (the recorder's thread)."""
        with self.lock:
            self.batches += 1
            self.deliveries += sum(result.outcomes.values())
