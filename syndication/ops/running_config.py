"""Which partners configuration each process runs, in its own words: the `config:running` hash.

    running_config.report(ctx, "deliveries-1@host", "worker", ctx.settings, version=3)
    running_config.online(ctx)                          every process heard from lately
    running_config.wait(ctx, version, digest, timeout)  until every online process runs `version`

Every process that follows partners-file reloads (each worker's housekeeping, each API process)
writes its entry when it applies or refuses a reload, and every HEARTBEAT seconds:

    deliveries-1@host -> {"kind": "worker", "host": ..., "pid": ..., "last_seen": ...,
                          "version": 3,            the reload it runs (config:version it applied)
                          "file": "/etc/syndication/partners.yaml",   absolute, as it resolved it
                          "digest": "9f2c...",     of its partners' settings (secrets left out)
                          "partners": 12,
                          "cancelled": 5,          deliveries it cancelled applying `version`
                          "rejected": {"version": 4, "reason": "..."} or null}

`partners reload` reads it to refuse a reload that cannot mean what the operator thinks (no
file in the caller's environment, or another file than the processes run), to wait until
every process, the API included, runs the new version, and to name a process that refused it
or whose copy of the file differs. Workers also beat in `workers` (ops/workers.py, which says
which queues are served); this hash is about configuration only, and holds API processes too.
A process that stops cleanly removes its entry; one that dies stops counting after
OFFLINE_AFTER seconds and is forgotten after a day.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from syndication.infra.context import Context

HEARTBEAT = 5.0
OFFLINE_AFTER = 15.0  # three missed reports
FORGET_AFTER = 24 * 3600.0
WAIT_EVERY = 0.1


def fingerprints(settings) -> dict[str, str]:
    """partner id -> a digest of its settings (secrets left out: never stored, even hashed)."""
    return {p.id: hashlib.sha256(p.model_dump_json().encode()).hexdigest()[:16] for p in settings.partners}


def digest(prints: dict[str, str]) -> str:
    """One digest for a whole partners configuration: equal digests, the same partners and settings."""
    return hashlib.sha256(json.dumps(sorted(prints.items())).encode()).hexdigest()[:16]


def file_of(settings) -> str | None:
    """The partners file as an absolute path: processes and the CLI may run from different directories."""
    return str(settings.partners_file.resolve()) if settings.partners_file else None


def report(ctx: Context, name: str, kind: str, settings, version: int, cancelled: int = 0,
           rejected: dict | None = None, now: float | None = None) -> None:
    doc = {"kind": kind, "host": socket.gethostname(), "pid": os.getpid(), "last_seen": now or time.time(),
           "version": version, "file": file_of(settings), "digest": digest(fingerprints(settings)),
           "partners": len(settings.partners), "cancelled": cancelled, "rejected": rejected}
    ctx.redis.hset(ctx.keys.config_running, name, json.dumps(doc, separators=(",", ":")))


def leave(ctx: Context, name: str) -> None:
    ctx.redis.hdel(ctx.keys.config_running, name)


def online(ctx: Context, now: float | None = None) -> list[dict[str, Any]]:
    """Every process that reported within OFFLINE_AFTER seconds, by name; the long dead are forgotten."""
    now = now or time.time()
    out, forget = [], []
    for name, raw in ctx.redis.hgetall(ctx.keys.config_running).items():
        try:
            doc = json.loads(raw)
            age = now - float(doc["last_seen"])
        except (ValueError, KeyError, TypeError):
            forget.append(name)
            continue
        if age > FORGET_AFTER:
            forget.append(name)
        elif age <= OFFLINE_AFTER:
            out.append({**doc, "name": name.decode(), "version": int(doc.get("version") or 0)})
    if forget:
        ctx.redis.hdel(ctx.keys.config_running, *forget)
    return sorted(out, key=lambda r: r["name"])


def plural(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}es" if what.endswith("ss") else f"{n} {what}s"


def describe(ctx: Context, reports: list[dict[str, Any]]) -> str:
    """What the online processes run, in a few words: "4 processes run /etc/p.yaml (reload 3, 12 partners)"."""
    if not reports:
        return (f"no process reports its configuration in this Redis under key prefix {ctx.keys.prefix!r} "
                f"(are SYNDICATION_REDIS_URL and SYNDICATION_KEY_PREFIX the processes' own?)")
    groups: dict[tuple, int] = {}
    for r in reports:
        key = (r.get("file") or "no partners file", r["version"], r.get("partners", 0))
        groups[key] = groups.get(key, 0) + 1
    return "; ".join(f"{plural(n, 'process')} {'runs' if n == 1 else 'run'} {f} (reload {v}, "
                     f"{plural(p, 'partner')})"
                     for (f, v, p), n in sorted(groups.items(), key=lambda g: -g[1]))


@dataclass
class Outcome:
    """Who runs a reload, `wait` says: done (with `different` those whose copy differs), refused, late."""
    done: list[dict] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    late: list[str] = field(default_factory=list)
    different: dict[str, str] = field(default_factory=dict)
    cancelled: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for r in self.done if r.get("kind") == kind)


def wait(ctx: Context, version: int, want: str, timeout: float) -> Outcome:
    """Until every online process runs reload `version` or refused it, or `timeout` passes.

    `want` is the digest of the configuration the caller validated: a process that applied the
    version but runs another configuration (its own copy of the file differs) is named in `different`.
    Every process online at the start is waited for: one that goes quiet meanwhile (stuck,
    SIGSTOPped, died) stays late instead of dropping out of the count; one that stops cleanly
    (its entry removed) is no longer waited for."""
    deadline = time.monotonic() + timeout
    expected: set[str] = set()
    while True:
        reports = online(ctx)
        expected |= {r["name"] for r in reports}
        expected &= {n.decode() for n in ctx.redis.hkeys(ctx.keys.config_running)}
        done = [r for r in reports if r["version"] >= version]
        waiting = [r for r in reports if r["version"] < version]
        refused = {r["name"]: r["rejected"]["reason"] for r in waiting
                   if (r.get("rejected") or {}).get("version", 0) >= version}
        late = sorted(expected - {r["name"] for r in done} - set(refused))
        if not late or time.monotonic() >= deadline:
            break
        time.sleep(WAIT_EVERY)
    return Outcome(done=done, refused=refused, late=late,
                   different={r["name"]: f"{r.get('file') or 'no partners file'} ({plural(r.get('partners', 0), 'partner')})"
                              for r in done if r.get("digest") != want},
                   cancelled=sum(int(r.get("cancelled") or 0) for r in done if r["version"] == version))
