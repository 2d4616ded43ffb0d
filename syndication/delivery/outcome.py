"""The one table that turns an HTTP status or a transport error into an outcome.

    2xx                                   -> SUCCESS
    408, 425, 429, 5xx, timeouts, connection errors -> RETRY
    410 Gone                              -> GONE (partner endpoint disabled, deliveries parked)
    any other status                      -> PERMANENT (dead letter at once)

A partner's retry policy may move status codes between RETRY and PERMANENT
(`retry_on`, `permanent_on`).
"""

from __future__ import annotations

from enum import Enum

RETRYABLE_STATUSES = frozenset({408, 425, 429})


class Outcome(str, Enum):
    SUCCESS = "success"
    RETRY = "retry"
    GONE = "gone"
    PERMANENT = "permanent"


def classify(status: int | None, *, retry_on=(), permanent_on=()) -> Outcome:
    """`status` None means the request never got a response (timeout, refused, reset, refused address)."""
    if status is None:
        return Outcome.RETRY
    if status in permanent_on:
        return Outcome.PERMANENT
    if status in retry_on:
        return Outcome.RETRY
    if 200 <= status < 300:
        return Outcome.SUCCESS
    if status == 410:
        return Outcome.GONE
    if status in RETRYABLE_STATUSES or status >= 500:
        return Outcome.RETRY
    return Outcome.PERMANENT
