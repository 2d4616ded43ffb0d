"""Redis client factory: one place that decides timeouts and retry behaviour.

Every process (API, workers, CLI) gets its client here, so a Redis restart,
or a server that closes idle connections (`timeout` in redis.conf), is
survived the same way everywhere: short socket timeouts, health checks on
idle connections, and a few retries with backoff on connection errors.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def connect(url: str, *, decode: bool = False) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        decode_responses=decode,
        socket_connect_timeout=2,
        socket_timeout=10,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=5),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


def aconnect(url: str):
    """The asyncio client the API serves feeds with: same timeouts and reconnect policy."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry as AsyncRetry

    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
        retry=AsyncRetry(ExponentialBackoff(cap=1.0, base=0.05), retries=5),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


def ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
