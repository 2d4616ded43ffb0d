"""Which workers are online, read from their heartbeats in Redis (no Celery needed to ask).

Every worker process writes a heartbeat every HEARTBEAT seconds into the `workers` hash:

    deliveries1@host -> {"queues": ["deliveries"], "host": ..., "pid": ..., "started_at": ..., "last_seen": ...}

A worker that stops cleanly marks its entry `stopped_at`; one that dies (kill -9, OOM, host
gone) stops beating and shows as offline after OFFLINE_AFTER seconds. Either way it is listed
as *missing*, by name, until it comes back (same name: `syndication up` and compose give
stable node names) or is forgotten (a clean stop after FORGET_STOPPED: a deliberate
scale-down stops warning; a death after FORGET_AFTER). A queue with
no online worker is the loudest problem `status` reports: its work waits.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from syndication.infra.context import Context
from syndication.infra.keys import QUEUES

HEARTBEAT = 5.0
OFFLINE_AFTER = 15.0  # three missed heartbeats
FORGET_AFTER = 24 * 3600.0
FORGET_STOPPED = 3600.0


def beat(ctx: Context, name: str, queues: list[str], started_at: float, now: float | None = None,
         config_version: int = 0, engine: dict | None = None) -> None:
    """`config_version`: the partners-file reload this worker runs with (ops/reload.py waits on it);
    `engine`: a deliveries worker's delivery engine counts (pushers, busy, ...: delivery/engine.py)."""
    now = now or time.time()
    doc = {"queues": sorted(queues), "host": socket.gethostname(), "pid": os.getpid(),
           "started_at": started_at, "last_seen": now, "config_version": config_version}
    if engine is not None:
        doc["engine"] = engine
    ctx.redis.hset(ctx.keys.workers, name, json.dumps(doc, separators=(",", ":")))


def leave(ctx: Context, name: str, now: float | None = None) -> None:
    raw = ctx.redis.hget(ctx.keys.workers, name)
    doc = json.loads(raw) if raw else {"queues": []}
    doc["stopped_at"] = now or time.time()
    ctx.redis.hset(ctx.keys.workers, name, json.dumps(doc, separators=(",", ":")))


def roster(ctx: Context, now: float | None = None) -> list[dict[str, Any]]:
    """Every known worker, with `online` and `age` (seconds since its last heartbeat)."""
    now = now or time.time()
    out, forget = [], []
    for name, raw in ctx.redis.hgetall(ctx.keys.workers).items():
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = {"queues": [], "last_seen": 0}
        age = now - float(doc.get("last_seen") or 0)
        stopped = doc.get("stopped_at")
        if age > FORGET_AFTER or (stopped and now - stopped > FORGET_STOPPED):
            forget.append(name)
            continue
        out.append({"name": name.decode(), **doc, "age": age, "online": not stopped and age <= OFFLINE_AFTER})
    if forget:
        ctx.redis.hdel(ctx.keys.workers, *forget)
    return sorted(out, key=lambda w: w["name"])


def by_queue(workers: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """queue -> {"online": [names], "missing": [names]} for every queue of the service."""
    out = {q: {"online": [], "missing": []} for q in QUEUES}
    for w in workers:
        for q in w.get("queues", []):
            if q in out:
                out[q]["online" if w["online"] else "missing"].append(w["name"])
    return out


def claim_name(ctx: Context, queues: list[str], now: float | None = None, pid: int | None = None) -> str:
    """The heartbeat name of a worker started without `-n`: Celery names every such worker
    `celery@<host>`, so the bare `celery -A workers worker -Q events` and `-Q deliveries` on one host
    would beat (and report their partners-file reload) as one. `<queues>@<host>`, or `<queues>-2@<host>`,
    ... the first no live process of this host holds: a restarted worker takes its name back, so
    names stay stable, and a second worker for the same queue gets the next one."""
    import redis

    host, pid, now = socket.gethostname(), pid or os.getpid(), now or time.time()
    base = "-".join(sorted(queues)) or "worker"
    doc = json.dumps({"queues": sorted(queues), "host": host, "pid": pid, "started_at": now, "last_seen": now},
                     separators=(",", ":"))
    for n in range(1, 1000):
        name = f"{base}@{host}" if n == 1 else f"{base}-{n}@{host}"
        while True:  # every heartbeat writes the hash: a claim that raced one is tried again
            with ctx.redis.pipeline() as pipe:
                try:
                    pipe.watch(ctx.keys.workers)
                    raw = pipe.hget(ctx.keys.workers, name)
                    if raw and _held(json.loads(raw), host, pid, now):
                        break
                    pipe.multi()
                    pipe.hset(ctx.keys.workers, name, doc)
                    pipe.execute()
                    return name
                except redis.WatchError:
                    continue
    raise RuntimeError(f"no free worker name for {base}@{host}")


def _held(doc: dict, host: str, pid: int, now: float) -> bool:
    """Another process of this host runs under this name: not stopped, beating, and alive."""
    if doc.get("stopped_at") or doc.get("host") != host or doc.get("pid") == pid:
        return False
    if now - float(doc.get("last_seen") or 0) > OFFLINE_AFTER:
        return False
    try:
        os.kill(int(doc["pid"]), 0)
    except ProcessLookupError:
        return False  # it died without saying so (kill -9): its name is free
    except (PermissionError, KeyError, ValueError):
        return True
    return True
