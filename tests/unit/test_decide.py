"""decide(): the next state of a delivery after one attempt, as a table (pure: no Redis, no HTTP)."""

from __future__ import annotations

import random

import pytest

from syndication.delivery.decide import decide
from syndication.delivery.http import Response
from syndication.delivery.lifecycle import DeliveryStatus
from syndication.delivery.model import ARTICLE, Delivery, Subject
from syndication.partners.target import RetryPolicy

NOW = 1_800_000_000.0
POLICY = RetryPolicy(max_attempts=3, base_delay=2.0, max_delay=60.0, max_age=3600.0, max_retry_after=600.0)


def delivery(attempts=0, base=0, created=NOW - 10, replayed=None) -> Delivery:
    return Delivery(id="msg_x", partner="p", subject=Subject(ARTICLE, "a", 1), event_id="e",
                    event_type="article.published", status=DeliveryStatus.PENDING, attempts=attempts,
                    attempts_base=base, created_at=created, replayed_at=replayed)


def resp(status, error=None, permanent=False, headers=None) -> Response:
    return Response(status, headers or {}, "", 0.01, error, permanent)


@pytest.mark.parametrize("response, d, status, result, health", [
    (resp(200), delivery(), DeliveryStatus.DELIVERED, "delivered", True),
    (resp(204), delivery(attempts=2), DeliveryStatus.DELIVERED, "delivered", True),
    (resp(500), delivery(), DeliveryStatus.RETRYING, "retry", False),
    (resp(503), delivery(attempts=1), DeliveryStatus.RETRYING, "retry", False),
    (resp(429), delivery(), DeliveryStatus.RETRYING, "retry", False),
    (resp(408), delivery(), DeliveryStatus.RETRYING, "retry", False),
    (resp(None, "timeout: ReadTimeout"), delivery(), DeliveryStatus.RETRYING, "retry", False),
    (resp(500), delivery(attempts=2), DeliveryStatus.DEAD, "dead", False),  # third try was the last
    (resp(500), delivery(attempts=5, base=4), DeliveryStatus.RETRYING, "retry", False),  # replayed: fresh budget
    (resp(500), delivery(created=NOW - 7200), DeliveryStatus.DEAD, "dead", False),  # too old
    (resp(500), delivery(created=NOW - 7200, replayed=NOW - 5), DeliveryStatus.RETRYING, "retry", False),
    (resp(410), delivery(), DeliveryStatus.PARKED, "parked", None),
    (resp(400), delivery(), DeliveryStatus.DEAD, "dead", None),  # about this payload, not the partner's health
    (resp(422), delivery(), DeliveryStatus.DEAD, "dead", None),
    (resp(None, "address refused", permanent=True), delivery(), DeliveryStatus.DEAD, "dead", None),
    (resp(200, "cannot render", permanent=True), delivery(), DeliveryStatus.DEAD, "dead", None),
])
def test_decision_table(response, d, status, result, health):
    decision = decide(response, POLICY, d, NOW, rng=random.Random(1))
    assert (decision.status, decision.result, decision.health) == (status, result, health)
    if result == "retry":
        assert NOW <= decision.due_at <= NOW + POLICY.max_delay
    else:
        assert decision.due_at is None


def test_retry_after_wins_when_longer_and_is_bounded():
    d = delivery()
    assert decide(resp(503, headers={"Retry-After": "120"}), POLICY, d, NOW).due_at == NOW + 120
    assert decide(resp(503, headers={"Retry-After": "86400"}), POLICY, d, NOW).due_at == NOW + 600


def test_partner_policy_moves_statuses():
    policy = RetryPolicy(max_attempts=3, retry_on=[409], permanent_on=[503])
    assert decide(resp(409), policy, delivery(), NOW).result == "retry"
    assert decide(resp(503), policy, delivery(), NOW).result == "dead"
