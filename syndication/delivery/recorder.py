"""Writing the last groups of many batches, of many partners, in one transaction.

    recorder = Recorder(ctx, done=callback)   # one per delivery engine (engine.py), its own thread
    recorder.record(group, now, slot, result) # a pusher hands over its batch's last group and moves on
    recorder.stop()

At wide fan-out each partner's batch holds one delivery, so a transaction per batch cost a Redis
round trip (pool, syscalls, parsing: about what the delivery's own commands cost) per delivery.
The recorder drains whatever groups are waiting (up to MAX_GROUPS), queues each group's writes
(outcome_group.Group.queue) into one MULTI, and reads each group's answers by the group's name
(infra/transaction.py; Group.settle: scripts Redis forgot re-run, ops told of circuits opened or
closed); their metrics are summed and written in the same transaction, once per series. Partners
with deliveries left due are marked ready in one more round trip.

Durability is unchanged: an outcome is recorded after its request, in one transaction with
the end of its lease and slot. If the transaction fails (Redis away), nothing of it was written:
leases and slots run out and the sweeper hands the deliveries back (at-least-once: they are
sent again, with the same webhook-id).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from syndication.delivery import schedule
from syndication.infra import metrics
from syndication.infra.context import Context
from syndication.infra.transaction import Transaction

log = logging.getLogger("syndication.delivery")
MAX_GROUPS = 256  # groups per transaction: thousands of commands at most, a millisecond or two of Redis


class Recorder:
    def __init__(self, ctx: Context, done: Callable[[object], None] | None = None):
        """`done(result)`: called for every batch once its last group is written (engine counts)."""
        self.ctx, self.done = ctx, done
        self.waiting: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self.thread.start()

    def record(self, group, now: float, slot: str, result) -> None:
        self.waiting.put((group, now, slot, result))

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is waiting, then end."""
        self.waiting.put(None)
        self.thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self.waiting.get()
            if item is None:
                return
            items = [item]
            while len(items) < MAX_GROUPS:
                try:
                    more = self.waiting.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._write(items)
                    return
                items.append(more)
            self._write(items)

    def _write(self, items: list) -> None:
        try:
            tx = Transaction(self.ctx.redis)
            tally = metrics.Tally()  # the groups' metrics, summed: one write per series per transaction
            written = []
            for n, (group, now, slot, result) in enumerate(items):
                queued = group.queue(now, end_slot=slot, tally=tally)
                with tx.group(n) as pipe:  # the group's replies, under its number
                    for args, options in group.pipe.command_stack:
                        pipe.pipeline_execute_command(*args, **options)
                written.append((group, queued, result))
            tally.flush(tx.pipe, self.ctx.keys)
            replies = tx.execute(raise_on_error=False)
        except Exception:  # nothing was written: leases and slots run out, the sweeper re-drives
            log.exception("recorder: could not write %d batches' outcomes; their deliveries will be sent again",
                          len(items))
            return
        ready = []
        for n, (group, queued, result) in enumerate(written):
            try:
                result.more_due = group.settle(queued, replies[n]) > 0
            except Exception:  # written; only what follows (ops notices) failed for this group
                log.exception("recorder: after writing outcomes", extra={"partner": group.partner.id})
                continue
            if result.more_due:
                ready.append(group.partner.id)
            if self.done is not None:
                self.done(result)
        if ready:
            try:
                schedule.mark_ready(self.ctx, ready)
            except Exception:  # the sweeper marks them ready within a second
                log.warning("recorder: could not mark %d partners ready", len(ready), exc_info=True)
