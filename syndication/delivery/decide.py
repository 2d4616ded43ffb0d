"""What happens after one attempt: the pure decision, as a table.

    decide(response, policy, delivery, now) -> Decision

    2xx                                  -> delivered
    retryable (5xx, 408/425/429, timeout, refused), budget left -> retry at now + backoff
    retryable, attempts or age used up   -> dead (a dead letter, replayable)
    410 Gone                             -> parked, and the partner is disabled
    anything else, or our side cannot send (address refused, cannot render) -> dead at once

The budget counts from the last replay: a replayed delivery gets a fresh set of attempts and a
fresh age, while its history keeps every attempt. No I/O here: push.py reads and writes Redis,
this only decides (unit-tested as a table in tests/unit/test_decide.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from syndication.delivery.backoff import compute_backoff, parse_retry_after
from syndication.delivery.outcome import Outcome, classify
from syndication.delivery.lifecycle import DeliveryStatus
from syndication.delivery.model import Delivery


@dataclass(frozen=True)
class Decision:
    status: DeliveryStatus  # the delivery's next state
    result: str  # delivered | retry | dead | parked (metrics and logs)
    outcome: Outcome  # how the response was classified
    due_at: float | None = None  # retry: when the next attempt is due
    health: bool | None = None  # True/False: counts for the circuit as a success/failure; None: says nothing

    @property
    def delivered(self) -> bool:
        return self.status is DeliveryStatus.DELIVERED


def decide(response, policy, delivery: Delivery, now: float, rng: random.Random | None = None) -> Decision:
    """The next state of `delivery` after `response` (an http.Response), under the partner's retry `policy`."""
    outcome = Outcome.PERMANENT if response.permanent else classify(
        response.status, retry_on=policy.retry_on, permanent_on=policy.permanent_on)
    # A 4xx about one payload says nothing of the partner's health; 5xx, 429 and timeouts do.
    health = {Outcome.SUCCESS: True, Outcome.RETRY: False}.get(outcome)
    if outcome is Outcome.SUCCESS:
        return Decision(DeliveryStatus.DELIVERED, "delivered", outcome, health=health)
    attempt_no = delivery.attempts + 1
    tries = attempt_no - delivery.attempts_base
    age = now - max(delivery.created_at, delivery.replayed_at or 0.0)
    if outcome is Outcome.RETRY and tries < policy.max_attempts and age < policy.max_age:
        delay = compute_backoff(
            attempt=attempt_no, base=policy.base_delay, cap=policy.max_delay,
            retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
            max_retry_after=policy.max_retry_after, rng=rng)
        return Decision(DeliveryStatus.RETRYING, "retry", outcome, due_at=now + delay, health=health)
    if outcome is Outcome.GONE:
        return Decision(DeliveryStatus.PARKED, "parked", outcome, health=health)
    return Decision(DeliveryStatus.DEAD, "dead", outcome, health=health)
