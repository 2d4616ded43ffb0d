"""A workaround for kombu 5.7 Redis-transport crashes on broker connection loss.

When Redis goes away while a worker holds unacknowledged messages (our
thread-pool deliveries worker usually does), Celery tears the channel down;
then kombu, on that dead channel, tries to give the messages back
(`QoS.restore_unacked`) or a task finishing in another thread tries to ack.
Both build a Redis client from `channel.connection`, which is already None,
and raise `AttributeError: 'NoneType' object has no attribute 'hostname'`
(or `'client'`). Celery treats AttributeError as unrecoverable: the worker
exits instead of reconnecting. Seen in our fault suite (scenario "Redis
restart"); the same family as celery/kombu#970.

We make a closed channel raise a *connection* error instead, which Celery
and kombu already handle as recoverable: the worker logs "Couldn't ack" and
reconnects. The unacknowledged messages stay in Redis's unacked hash and
come back after the visibility timeout; the work they carried is re-driven
much sooner by our own leases and sweeper (DESIGN.md, Guarantees), and
every task is idempotent.
"""

from __future__ import annotations

import redis
from kombu.transport import redis as kombu_redis

_original_connparams = kombu_redis.Channel._connparams


def _connparams(self, asynchronous=False):
    if self.connection is None or getattr(self.connection, "client", None) is None:
        raise redis.ConnectionError("broker channel already closed (connection lost)")
    return _original_connparams(self, asynchronous=asynchronous)


def apply() -> None:
    kombu_redis.Channel._connparams = _connparams
