"""`syndication ...`: the composition root. Reads the environment, wires Redis and Celery.

    syndication up [--host H] [--port P] [--log-level L] [--verbose]   API + workers (all queues), local, foreground
    syndication api [--host H] [--port P]    the API alone (uvicorn)
    syndication publish FILE...              POST event files to the API, print each outcome
    syndication config check [--offline]     ping Redis; validate settings, partners and feeds files
    syndication schema                       print the event JSON Schema
    syndication deliveries show ARTICLE_ID   every delivery of an article, with attempts
    syndication deliveries list --partner P [--state S] [--since T]
    syndication deliveries replay [ID...] [--partner P] [--since T] [--until T] [--all] [--dry-run] [--wait [S]]
    syndication deliveries discard [ID...] [--partner P] [--all] [--dry-run]
    syndication events dead | events replay ID...|--all   events parked after failing to apply
    syndication partners pause|resume|enable P
    syndication partners reload [--allow-empty] [--timeout S]   every process re-reads its partners file (also: SIGHUP)
    syndication partners backfill P --last N|--since T [--force] [--dry-run]   what a new partner missed
    syndication partners show P              its configuration and public signing key(s), never a secret
    syndication keys generate                a new Ed25519 key pair (whsk_ private, whpk_ public)
    syndication status [--json] [--watch [SECONDS]] [--check]
    syndication websub list [--topic URL] [--ended] [--json] | websub remove ID   our WebSub hub's subscriptions
    syndication receiver [--port 8010] [--secret-env NAME] [--public-key-env NAME]   a partner endpoint that verifies and prints pushes
    syndication reset [--yes] [--force]      delete every key under this deployment's prefix (start over)

Exit codes: 0 ok, 1 failure (service unreachable, ...), 2 bad input (invalid
event file, invalid configuration, bad arguments).
"""

from __future__ import annotations

import os
import sys

from syndication.errors import ConfigError, QueueUnavailable
from syndication.cli.commands import parser
from syndication.cli.common import LOCAL_DEV_KEY, settings_or_exit

__all__ = ["LOCAL_DEV_KEY", "build_api", "main", "parser"]


def build_api():
    """uvicorn factory: `uvicorn --factory syndication.cli:build_api`."""
    from syndication.api.app import create_asgi

    settings = settings_or_exit()
    from workers.tasks import dispatch  # the one seam where follow-up work becomes Celery messages

    def enqueue(follow_up) -> None:
        try:
            dispatch(follow_up)
        except Exception as exc:  # kombu/redis errors: the broker is gone; the event is stored already
            raise QueueUnavailable(f"{type(exc).__name__}: {exc}") from exc

    return create_asgi(settings, enqueue)


def main(argv: list[str] | None = None) -> int:
    from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeout

    args = parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (RedisConnectionError, RedisTimeout) as exc:  # the 3 a.m. commands: one line, not a traceback
        print(f"cannot reach Redis at {_redis_url()}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `syndication schema | head`: the reader left, nothing more to say
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


def _redis_url() -> str:
    """The configured Redis URL without its password, for an error line."""
    from urllib.parse import urlsplit, urlunsplit

    from syndication.settings import DEFAULT_REDIS_URL

    parts = urlsplit(os.environ.get("SYNDICATION_REDIS_URL") or DEFAULT_REDIS_URL)
    netloc = parts.netloc.rpartition("@")[2] if "@" in parts.netloc else parts.netloc
    return urlunsplit(parts._replace(netloc=netloc))


if __name__ == "__main__":
    sys.exit(main())
