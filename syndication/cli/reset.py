"""`syndication reset`: start over: delete every key under this deployment's prefix.

Articles, feeds, deliveries, accepted event ids (so the examples can be published again),
circuits, audit, and Celery's broker queues (kombu's keys are under the same prefix) go;
other prefixes and other databases on the same Redis stay. Meant for a local Redis: any
other host is refused unless `--force`, and the refusal is decided from the URL alone,
before connecting. Running processes must be restarted afterwards: Celery declares its queue
bindings (kombu's `_kombu.binding.*` keys, under the prefix) only when a worker starts.

Exit codes: 0 deleted (or nothing to delete), 1 Redis unreachable, 2 refused or not confirmed.
"""

from __future__ import annotations

import os
import re
import sys
from urllib.parse import urlsplit, urlunsplit

LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}
BATCH = 500  # keys per SCAN page and per UNLINK


def redacted(url: str) -> str:
    """The URL with its password (and user) hidden, for the prompt and error lines."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return True
    return (parts.hostname or "").lower() in LOCAL_HOSTS


def pattern(prefix: str) -> str:
    """A SCAN MATCH pattern for keys starting with `prefix` (glob characters in it escaped)."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"


def scan(client, prefix: str):
    """Pages of keys under `prefix`."""
    cursor = 0
    while True:
        cursor, keys = client.scan(cursor, match=pattern(prefix), count=BATCH)
        if keys:
            yield keys
        if cursor == 0:
            return


def cmd_reset(args) -> int:
    from syndication.infra.redis_client import connect
    from syndication.settings import DEFAULT_REDIS_URL

    url = os.environ.get("SYNDICATION_REDIS_URL") or DEFAULT_REDIS_URL
    prefix = os.environ.get("SYNDICATION_KEY_PREFIX", "synd:")
    if not prefix:  # an empty prefix would match every key of the database
        print("reset: SYNDICATION_KEY_PREFIX is empty; refusing to delete every key", file=sys.stderr)
        return 2
    if not is_local(url) and not args.force:
        print(f"reset: refusing: {redacted(url)} is not a local Redis (127.0.0.1, ::1, localhost or a unix "
              "socket); pass --force if you really mean to delete this deployment's keys there", file=sys.stderr)
        return 2
    client = connect(url)
    count = sum(len(page) for page in scan(client, prefix))
    if count == 0:
        print(f"reset: no keys under {prefix!r} at {redacted(url)}; nothing to delete")
        return 0
    if not args.yes:
        print(f"Redis:  {redacted(url)}\nprefix: {prefix}\nkeys:   {count}")
        try:
            answer = input(f"Delete these {count} keys (articles, feeds, deliveries, accepted event ids)? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("reset: not confirmed; nothing deleted", file=sys.stderr)
            return 2
    deleted = 0
    # A key may appear on two SCAN pages; UNLINK of a gone key counts 0, so the total stays true.
    for page in scan(client, prefix):
        deleted += client.unlink(*page)
    print(f"reset: deleted {deleted} keys under {prefix!r} at {redacted(url)}; restart `syndication up` "
          "(or any worker and API) if it is running: its queue bindings went too")
    return 0
