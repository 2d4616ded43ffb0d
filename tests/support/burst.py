"""A burst for a partner: its deliveries come due together (the partner paused), then let go at once."""

from __future__ import annotations

import time
from collections.abc import Callable

from syndication.delivery import circuit, schedule
from tests.support.processes import wait_for


def release_burst(ctx, partner_id: str, receiver, ids: list[str], publish: Callable[[str], object],
                  timeout: float) -> float:
    """Pause the partner, `publish` each article id, wait until all are due, resume and mark it ready;
    wait until the receiver has every one; return the seconds from the release to the last."""
    circuit.pause(ctx, partner_id)
    for aid in ids:
        publish(aid)
    wait_for(lambda: schedule.DueSchedule(ctx, partner_id).due_count(time.time() + 1) == len(ids), timeout=timeout,
             what=f"{len(ids)} due to {partner_id}")
    started = time.time()
    circuit.resume(ctx, partner_id)
    schedule.mark_ready(ctx, [partner_id])
    wait_for(lambda: all(receiver.for_article(a) for a in ids), timeout=timeout, what=f"every push to {partner_id}")
    return time.time() - started
