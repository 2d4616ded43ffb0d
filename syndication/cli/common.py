"""What every CLI command shares: settings from the environment, the local dev key, time parsing,
and the one-line answer to "is Redis there?"."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from syndication.errors import ConfigError

LOCAL_DEV_KEY = "local-dev-key"


def data_dir() -> Path:
    """Where `up` keeps its own Redis and beat schedule (read when asked, not at import)."""
    return Path(os.environ.get("SYNDICATION_DATA_DIR", ".data"))


def settings_or_exit():
    from syndication.configuration import load_settings

    try:
        return load_settings(os.environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def context():
    from syndication.infra.context import Context

    return Context.build(settings_or_exit())


def parse_time(value: str | None, option: str = "--since") -> float | None:
    """'2h', '30m', '1d' (ago) or an RFC 3339 time with its zone -> unix seconds (syndication/inputs.py);
    anything else exits 2 with one line naming the option."""
    from syndication import inputs

    try:
        return None if value is None else inputs.instant(value)
    except inputs.BadInput as exc:
        print(f"{option} {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def redacted_url(url: str) -> str:
    """A Redis URL without its password, for an error line."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc))


def redis_unreachable(url: str) -> str | None:
    """None when the Redis at `url` answers PING, else why not. One try with short timeouts (no
    retries: this is the "fail fast" check, not the service's resilient client)."""
    import redis
    import redis.sentinel
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from syndication.configuration import DEFAULT_REDIS_MASTER, _sentinels
    from syndication.infra.redis_client import connect

    # With Sentinel, the primary the sentinels name now (what every process will use), not the URL's host.
    client = connect(url, sentinels=_sentinels(os.environ.get("SYNDICATION_REDIS_SENTINELS")),
                     master=os.environ.get("SYNDICATION_REDIS_MASTER") or DEFAULT_REDIS_MASTER,
                     socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0), retry_on_error=[])
    try:
        client.ping()
        return None
    except redis.sentinel.MasterNotFoundError:
        return (f"no sentinel of {os.environ.get('SYNDICATION_REDIS_SENTINELS')} names a primary for "
                f"{os.environ.get('SYNDICATION_REDIS_MASTER') or DEFAULT_REDIS_MASTER!r}")
    except redis.RedisError as exc:
        return str(exc) or type(exc).__name__
    finally:
        client.close()


def require_redis(url: str) -> None:
    """Exit 1 with one line (`cannot reach Redis at URL: reason`) unless the Redis at `url` answers."""
    reason = redis_unreachable(url)
    if reason is not None:
        raise SystemExit(f"cannot reach Redis at {redacted_url(url)}: {reason}")
