"""Redis client factory: one place that decides timeouts, retry behaviour and which server to talk to.

Every process (API, workers, CLI) gets its client here, so a Redis restart,
or a server that closes idle connections (`timeout` in redis.conf), is
survived the same way everywhere: short socket timeouts, health checks on
idle connections, and a few retries with backoff on connection errors.

With Sentinel (SYNDICATION_REDIS_SENTINELS), the client asks the sentinels
for the current primary of SYNDICATION_REDIS_MASTER on every new connection,
so after a failover the next reconnect lands on the promoted replica: a
connection to a dead primary fails, a connection to a demoted one answers
READONLY, and both are dropped and retried. SYNDICATION_REDIS_URL then gives
only the database number and the password; its host is not used.

    client = connect_settings(settings)            # sync, for Context and the CLI
    aclient = aconnect_settings(settings)          # asyncio, for the API's fast paths (bounded pool)
    broker_url(settings)                           # what Celery (kombu) connects to
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis
from redis.backoff import ExponentialBackoff
from redis.connection import parse_url
from redis.retry import Retry

if TYPE_CHECKING:
    from syndication.settings import Settings

# How long a sentinel may take to answer "who is the primary?" before the next one is asked.
SENTINEL_TIMEOUT = 0.5
# The API's shared asyncio pool: connections per process, and how long a request waits for one.
API_POOL_SIZE = 64
API_POOL_WAIT = 2.0
# How long a worker thread waits for a free connection of its full (sync) pool before it is an error.
POOL_WAIT = 20.0


def _defaults(decode: bool) -> dict:
    return dict(decode_responses=decode, socket_connect_timeout=2, socket_timeout=10, health_check_interval=15,
                retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=5),
                retry_on_error=[redis.ConnectionError, redis.TimeoutError])


def _url_auth(url: str) -> dict:
    """db, username and password of a redis:// URL: what a Sentinel setup takes from it."""
    parsed = parse_url(url)
    return {k: parsed[k] for k in ("db", "username", "password") if parsed.get(k) is not None}


def _sentinel_kwargs() -> dict:
    return {"socket_connect_timeout": SENTINEL_TIMEOUT, "socket_timeout": SENTINEL_TIMEOUT}


def connect(url: str, *, decode: bool = False, sentinels: tuple = (), master: str | None = None,
            max_connections: int | None = None, **overrides) -> redis.Redis:
    """A client of `url`'s server, or with `sentinels`, of `master`'s current primary.

    With `max_connections` the pool holds that many connections and a thread that finds them all
    in use waits for one (up to POOL_WAIT): redis-py's default pool raises "Too many connections"
    at 100 instead, which hundreds of pushers reach (STACK.md, trap 17)."""
    options = {**_defaults(decode), **overrides}
    if not sentinels:
        if max_connections is None:
            return redis.Redis.from_url(url, **options)
        pool = redis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=POOL_WAIT,
                                                     **options)
        return redis.Redis.from_pool(pool)
    if max_connections is not None:  # Sentinel's pool does not block: sized, it raises only past the size
        options["max_connections"] = max_connections
    from redis.sentinel import Sentinel

    return Sentinel(list(sentinels), sentinel_kwargs=_sentinel_kwargs()).master_for(
        master, **options, **_url_auth(url))


def connect_settings(settings: "Settings", *, decode: bool = False, **overrides) -> redis.Redis:
    """The process's client, its pool sized for the delivery engine's pushers (settings.redis_pool_size)."""
    overrides.setdefault("max_connections", settings.redis_pool_size)
    return connect(settings.redis_url, decode=decode, sentinels=settings.redis_sentinels,
                   master=settings.redis_master, **overrides)


def aconnect(url: str, *, sentinels: tuple = (), master: str | None = None, max_connections: int = API_POOL_SIZE,
             pool_wait: float = API_POOL_WAIT, socket_timeout: float = 5, retries: int = 5):
    """An asyncio client (same timeouts and reconnect policy) with a pool of `max_connections`.

    redis-py 8's pools raise MaxConnectionsError at their cap instead of waiting (STACK.md, trap 17),
    so without Sentinel the pool is a BlockingConnectionPool: a request past the cap waits up to
    `pool_wait` seconds for a free connection, then fails with ConnectionError (the API's 503);
    with Sentinel, its pool made blocking the same way. Nothing may hold a pooled
    connection for long (no blocking reads: the pull API's long polls wait on api/longpoll.py's
    one reader, on a client of its own)."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry as AsyncRetry

    options = dict(socket_connect_timeout=2, socket_timeout=socket_timeout, health_check_interval=15,
                   retry=AsyncRetry(ExponentialBackoff(cap=1.0, base=0.05), retries=retries),
                   retry_on_error=[redis.ConnectionError, redis.TimeoutError])
    if not sentinels:
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=pool_wait,
                                                        **options)
        return aioredis.Redis.from_pool(pool)  # closing the client closes its pool
    from redis.asyncio.sentinel import Sentinel

    return Sentinel(list(sentinels), sentinel_kwargs=_sentinel_kwargs()).master_for(
        master, connection_pool_class=_blocking_sentinel_pool(), max_connections=max_connections,
        timeout=pool_wait, **options, **_url_auth(url))


def _blocking_sentinel_pool():
    """Sentinel's asyncio pool, waiting for a free connection like BlockingConnectionPool (whose
    get_connection / release it takes: SentinelConnectionPool overrides neither)."""
    from redis.asyncio import BlockingConnectionPool
    from redis.asyncio.sentinel import SentinelConnectionPool

    class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
        pass

    return BlockingSentinelConnectionPool


def aconnect_settings(settings: "Settings", **overrides):
    """`aconnect` for these settings; `overrides`: max_connections, pool_wait, socket_timeout, retries."""
    overrides.setdefault("max_connections", settings.api_redis_pool_size)
    return aconnect(settings.redis_url, sentinels=settings.redis_sentinels, master=settings.redis_master,
                    **overrides)


def broker_url(settings: "Settings") -> str:
    """Celery's broker: the Redis URL, or kombu's Sentinel transport (`sentinel://h:p;sentinel://h:p`,
    each with the URL's password and db; the master's name goes in the transport options)."""
    if not settings.redis_sentinels:
        return settings.redis_url
    auth = _url_auth(settings.redis_url)
    userinfo = ""
    if auth.get("password"):
        from urllib.parse import quote

        userinfo = f"{quote(auth.get('username') or '', safe='')}:{quote(auth['password'], safe='')}@"
    db = auth.get("db", 0)
    return ";".join(f"sentinel://{userinfo}{host}:{port}/{db}" for host, port in settings.redis_sentinels)


def broker_sentinel_options(settings: "Settings") -> dict:
    """kombu transport options for Sentinel ({} without): the master's name and quick sentinel timeouts."""
    if not settings.redis_sentinels:
        return {}
    return {"master_name": settings.redis_master, "sentinel_kwargs": _sentinel_kwargs()}


def ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
