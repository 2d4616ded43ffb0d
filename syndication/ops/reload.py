"""Reloading the partners file without a restart: `syndication partners reload`, or SIGHUP.

    reload.request(ctx, env, actor="cli")   validate the file (ConfigError: rejected whole, nothing
                                            changes), then bump `config:version` in Redis
    reload.follow(ctx, env)                 in every process, every few seconds: a new version?
                                            re-read the file, swap ctx.settings, cancel what left

The file stays the source of truth (each host reads its own copy, as config management
deploys it); Redis only carries the *signal*, so every process of every host picks the change
up within a second or two (`partners reload` waits until every online worker reports it), and a process that starts later simply reads the file.

What a change means for work already queued:
- a changed URL, timeouts or filters: pending deliveries go out with the new settings (a push
  batch reads the partner at the start of each delivery, so none goes to the old URL once the
  process has swapped);
- a removed partner, or `enabled: false`: its pending deliveries become `cancelled` with the
  reason recorded (by the reload an operator requested, from its diff against the last
  published configuration), and nothing more is sent; one re-added later gets only what is created
  after its return, plus what an operator backfills;
- a rotated secret (`secret_env` holding several secrets, newest first) signs with all of them.

A process whose own copy of the file is invalid (or lacks a secret variable) keeps its running
configuration and says so at ERROR; `config check` on that host tells why.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Mapping

from syndication.configuration import load_settings
from syndication.delivery import records
from syndication.delivery.records import DeliveryStatus
from syndication.errors import ConfigError
from syndication.infra.context import Context

log = logging.getLogger("syndication.config")
FOLLOW_EVERY = 1.0  # workers look every second (one GET); the API every FOLLOW_EVERY too


@dataclass
class Change:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    cancelled: int = 0
    version: int = 0

    def summary(self) -> str:
        parts = [f"{name}: {', '.join(ids)}" for name, ids in
                 (("added", self.added), ("removed", self.removed), ("disabled", self.disabled),
                  ("changed", self.changed)) if ids]
        return "; ".join(parts) or "no partner changed"


def fingerprints(settings) -> dict[str, str]:
    """partner id -> a digest of its settings (secrets left out: never stored, even hashed)."""
    return {p.id: hashlib.sha256(p.model_dump_json().encode()).hexdigest()[:16] for p in settings.partners}


def diff(before: dict[str, str], after: dict[str, str], new) -> Change:
    """What changed between two fingerprint maps; `new` (Settings) tells which are disabled."""
    return Change(
        added=sorted(set(after) - set(before)),
        removed=sorted(set(before) - set(after)),
        disabled=sorted(p.id for p in new.partners if not p.enabled and before.get(p.id) != after.get(p.id)),
        changed=sorted(pid for pid in set(before) & set(after) if before[pid] != after[pid]),
    )


def request(ctx: Context, env: Mapping[str, str], actor: str) -> Change:
    """Validate the partners file and signal every process to reload it. ConfigError: rejected whole.

    What changed is told against the configuration the last reload published (`config:partners`),
    or, before any, against the one this process started with."""
    new = load_settings(env)
    stored = {k.decode(): v.decode() for k, v in ctx.redis.hgetall(ctx.keys.config_partners).items()}
    after = fingerprints(new)
    change = diff(stored or fingerprints(ctx.settings), after, new)
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.delete(ctx.keys.config_partners)
    if after:
        pipe.hset(ctx.keys.config_partners, mapping=after)
    pipe.incr(ctx.keys.config_version)
    change.version = pipe.execute()[-1]
    _swap(ctx, new, change)
    change.cancelled = cancel(ctx, change.removed, "partner removed from the partners file") + \
        cancel(ctx, change.disabled, "partner disabled in the partners file")
    log.info("partners reload requested", extra={"actor": actor, "detail": change.summary()})
    return change


def follow(ctx: Context, env: Mapping[str, str], seen: list) -> Change | None:
    """Reload if the version in Redis moved since `seen[0]` (a one-item list the caller keeps)."""
    version = int(ctx.redis.get(ctx.keys.config_version) or 0)
    if not seen:
        seen.append(version)
        if not ctx.redis.exists(ctx.keys.config_partners) and ctx.settings.partners:
            # What the first reload reports as changed is told against what the processes started with.
            ctx.redis.hset(ctx.keys.config_partners, mapping=fingerprints(ctx.settings))
        return None
    if version == seen[0]:
        return None
    try:
        new = load_settings(env)
    except ConfigError as exc:
        log.error("partners reload rejected here, the running configuration stays: %s", exc)
        seen[0] = version  # said once; this process keeps reporting the version it runs with
        return None
    seen[0] = version
    change = diff(fingerprints(ctx.settings), fingerprints(new), new)
    _swap(ctx, new, change)
    # Again from this process's own transition: catches a retry its push batch recorded for a removed
    # partner while the request was cancelling (idempotent; nothing to do in the usual case).
    change.cancelled = cancel(ctx, change.removed, "partner removed from the partners file") + \
        cancel(ctx, change.disabled, "partner disabled in the partners file")
    return change


def wait_applied(ctx: Context, version: int, timeout: float = 15.0) -> tuple[list[str], list[str]]:
    """Wait until every online worker runs reload `version` (their heartbeats say); returns the
    names that do and those that did not within `timeout` (their own copy may be invalid)."""
    from syndication.ops import workers

    deadline = time.time() + timeout
    while True:
        online = [w for w in workers.roster(ctx) if w["online"]]
        done = [w["name"] for w in online if int(w.get("config_version") or 0) >= version]
        late = [w["name"] for w in online if w["name"] not in done]
        if not late or time.time() >= deadline:
            return done, late
        time.sleep(0.2)


def _swap(ctx: Context, new, change: Change) -> None:
    ctx.settings = new
    if change.added or change.removed or change.disabled or change.changed:
        log.warning("partners reloaded: %s", change.summary())


def cancel(ctx: Context, partner_ids: list[str], reason: str, now: float | None = None) -> int:
    """Cancel the pending deliveries of partners a reload removed or disabled, with the reason.

    Only a reload does this, from a diff of configurations (the request's against the last
    published one, each process's against the one it ran): never a process at start, since during
    a rolling deploy hosts may briefly hold different copies of the file and one must not cancel
    a partner another has just added."""
    now = now or time.time()
    k = ctx.keys
    cancelled = 0
    for pid in partner_ids:
        ids = [i.decode() for i in ctx.redis.zrange(k.partner_due(pid), 0, -1)]
        ids += [i.decode() for i in ctx.redis.zrange(k.partner_inflight(pid), 0, -1)]
        if not ids:
            continue
        pipe = ctx.redis.pipeline(transaction=True)
        for did in ids:
            records.set_status(pipe, k, did, DeliveryStatus.CANCELLED, now, last_error=reason,
                               ttl=records.retention_ttl(ctx))
        pipe.delete(k.partner_due(pid), k.partner_inflight(pid))
        pipe.zrem(k.partners_ready, pid)
        pipe.execute()
        cancelled += len(ids)
        log.warning("partner %s: %d pending deliveries cancelled (%s)", pid, len(ids), reason,
                    extra={"partner": pid})
    return cancelled
