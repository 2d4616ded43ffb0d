"""Keeping running batches' leases alive: one renewer thread per process for all its batches.

A push batch holds its claimed ids and its slot under leases (schedule.py); a lease must
outlive any request in flight however slow the partner, or a sweep would hand the delivery to
a second worker while the first still waits for the answer. So a batch registers what it holds
when it starts (`hold`), drops ids as it records them, and the renewer, waking a few times per
renewal period, renews the leases of every batch whose last renewal is a third of its lease
old. While the worker lives its leases never run out; when it dies, renewals stop and the
sweeper hands the deliveries back after the lease.

One thread for the process, not one per batch: starting and joining a thread cost a batch as
much as a Redis round trip, and at a steady stream most batches hold one delivery.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from syndication.delivery import schedule
from syndication.infra.context import Context

log = logging.getLogger("syndication.delivery")


class Held:
    """What one running batch holds: its ids not yet recorded, and its slot."""

    def __init__(self, ctx: Context, partner, ids: list[str], slot: str, clock):
        self.ctx, self.partner, self.slot, self.clock = ctx, partner, slot, clock
        self.remaining = list(ids)
        self.every = schedule.lease_seconds(partner) / 3
        self.renewed = time.monotonic()
        self.lock = threading.Lock()

    def done(self, ids: list[str]) -> None:
        """These ids are recorded: their leases ended with them."""
        with self.lock:
            gone = set(ids)
            self.remaining = [i for i in self.remaining if i not in gone]

    def renew(self) -> None:
        with self.lock:
            ids = list(self.remaining)
        try:
            schedule.DueSchedule(self.ctx, self.partner.id).renew(
                ids, self.slot, self.clock() + schedule.lease_seconds(self.partner))
            self.renewed = time.monotonic()
        except Exception:  # Redis away for a moment: the next tick tries again; the lease has slack
            log.warning("lease renewal failed", extra={"partner": self.partner.id}, exc_info=True)


class _Renewer:
    def __init__(self):
        self.lock = threading.Lock()
        self.held: set[Held] = set()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid = 0

    def add(self, held: Held) -> None:
        with self.lock:
            self.held.add(held)
            if self.thread is None or not self.thread.is_alive() or self.pid != os.getpid():
                self.pid = os.getpid()  # a forked child starts its own
                self.thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
                self.thread.start()
        self.wake.set()

    def remove(self, held: Held) -> None:
        with self.lock:
            self.held.discard(held)

    def _run(self) -> None:
        while True:
            with self.lock:
                batches = list(self.held)
            if not batches:
                self.wake.wait()
                self.wake.clear()
                continue
            now = time.monotonic()
            for held in batches:
                if now - held.renewed >= held.every:
                    held.renew()
            self.wake.wait(min(h.every for h in batches) / 4)
            self.wake.clear()


_renewer = _Renewer()


class hold:
    """`with hold(ctx, partner, ids, slot) as held:` the leases of `ids` and the slot live until the
    block ends (each id until `held.done([id])`)."""

    def __init__(self, ctx: Context, partner, ids: list[str], slot: str, clock=time.time):
        self.held = Held(ctx, partner, ids, slot, clock)

    def __enter__(self) -> Held:
        _renewer.add(self.held)
        return self.held

    def __exit__(self, *exc) -> None:
        _renewer.remove(self.held)
