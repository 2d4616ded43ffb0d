"""Reloading the partners file without a restart: `syndication partners reload`, or SIGHUP.

    reload.request(ctx, actor="cli")        validate the file, refuse what cannot be meant
                                            (Refused / ConfigError: nothing is signalled), then
                                            bump `config:version` in Redis
    reload.follow(ctx, following)           in every process, every second: a new version?
                                            re-read *its own* file, publish it as a new settings
                                            snapshot, cancel what its change removed, report
                                            (running_config.py)

Both read the files again from where the caller's settings came from (configuration.reread:
the environment the process started with, kept in the snapshot), so no environment is passed.

The file stays the source of truth (each host reads its own copy, as config management
deploys it); Redis only carries the *signal*, so every process of every host picks the change
up within a second or two, and a process that starts later simply reads the file.

Who decides what a reload removes: the processes, each from the file it applies. The requester
(the CLI in an operator's shell, or a process given SIGHUP) only validates and previews: its
environment need not be the processes' (a shell without SYNDICATION_PARTNERS_FILE once saw
"0 partners", cancelled every partner's pending deliveries, exited 0, and the workers went on
running every partner). So:
- a request without a partners file is refused, naming the file the processes report running
  (`config:running`), and so is one whose file is not among the files they run;
- a request that leaves no enabled partner is refused unless it says `allow_empty`
  (`--allow-empty`); each process checks again against its own copy before applying it;
- only `follow` cancels: each process applying the version cancels the pending deliveries of
  the partners *its own* change removed or disabled. Every process does (idempotent: the first
  finds them, the others find nothing), which also catches a retry a push batch of that process
  recorded for a removed partner just before it swapped;
- `partners reload` waits until every online process, the API included, reports the version
  (so "reload, then backfill over HTTP" finds the new partner), and names any that refused it
  or runs a copy of the file that differs from the one the command validated (exit 1).

What a change means for work already queued:
- a changed URL, timeouts or filters: pending deliveries go out with the new settings (a push
  batch reads the partner at the start of each delivery, so none goes to the old URL once the
  process has swapped);
- a removed partner, or `enabled: false`: its pending deliveries become `cancelled` with the
  reason recorded, and nothing more is sent; one re-added later gets only what is created
  after its return, plus what an operator backfills;
- a rotated secret (`secret_env` holding several secrets, newest first) signs with all of them.

A process whose own copy of the file is invalid (or lacks a secret variable) keeps its running
configuration, says so at ERROR and reports the refusal; `config check` on that host tells why.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from syndication.configuration import reread
from syndication.delivery import records
from syndication.errors import ConfigError
from syndication.infra.context import Context
from syndication.ops import running_config
from syndication.ops.running_config import digest, fingerprints

log = logging.getLogger("syndication.config")
FOLLOW_EVERY = 1.0  # workers look every second (one round trip); the API every FOLLOW_EVERY too


class Refused(ConfigError):
    """A reload that cannot mean what its requester thinks (no file, another file, no partner left)."""


@dataclass
class Change:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    version: int = 0
    file: str | None = None
    digest: str = ""
    partners: int = 0

    def summary(self) -> str:
        parts = [f"{name}: {', '.join(ids)}" for name, ids in
                 (("added", self.added), ("removed", self.removed), ("disabled", self.disabled),
                  ("changed", self.changed)) if ids]
        return "; ".join(parts) or "no partner changed"


@dataclass
class Following:
    """One process's memory of reloads: the version it looked at last, the one it runs, what it
    cancelled applying that one, and the last one it refused ({"version", "reason"})."""
    seen: int | None = None
    applied: int = 0
    cancelled: int = 0
    rejected: dict | None = None


def diff(before: dict[str, str], after: dict[str, str], new) -> Change:
    """What changed between two fingerprint maps; `new` (Settings) tells which are disabled."""
    return Change(
        added=sorted(set(after) - set(before)),
        removed=sorted(set(before) - set(after)),
        disabled=sorted(p.id for p in new.partners if not p.enabled and before.get(p.id) != after.get(p.id)),
        changed=sorted(pid for pid in set(before) & set(after) if before[pid] != after[pid]),
    )


def _enabled(settings) -> bool:
    return any(p.enabled for p in settings.partners)


def request(ctx: Context, actor: str, allow_empty: bool = False) -> Change:
    """Validate the partners file this process's environment names and signal every process to re-read its own.

    ConfigError: the file is invalid; Refused: there is no file, it is not the processes' file,
    or it leaves no enabled partner without `allow_empty`. Either way nothing is signalled.
    The change is told against what the processes last applied (`config:partners`): a preview,
    for the processes apply (and cancel from) their own copies."""
    new = reread(ctx.settings)
    running = running_config.online(ctx)
    mine = running_config.file_of(new)
    if mine is None:
        raise Refused("SYNDICATION_PARTNERS_FILE is not set here, so there is no partners file to reload "
                      f"(nothing changed or cancelled); {running_config.describe(ctx, running)}")
    theirs = {r["file"] for r in running if r.get("file")}
    if theirs and mine not in theirs:
        raise Refused(f"SYNDICATION_PARTNERS_FILE here is {mine}, not a file the processes run "
                      f"({running_config.describe(ctx, running)}); they re-read their own file: "
                      "edit, check and reload that one")
    stored = {k.decode(): v.decode() for k, v in ctx.redis.hgetall(ctx.keys.config_partners).items()}
    after = fingerprints(new)
    change = diff(stored or fingerprints(ctx.settings), after, new)
    change.file, change.digest, change.partners = mine, digest(after), len(new.partners)
    if not allow_empty and (change.removed or change.disabled) and not _enabled(new):
        raise Refused(f"{mine} leaves no enabled partner: this reload would stop sending to every partner "
                      f"({', '.join(change.removed + change.disabled)}) and cancel their pending deliveries; "
                      "if that is what you mean, run `syndication partners reload --allow-empty`")
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.hset(ctx.keys.config_request, mapping={"actor": actor, "at": time.time(), "file": mine,
                                                "allow_empty": int(allow_empty)})
    pipe.incr(ctx.keys.config_version)
    change.version = pipe.execute()[-1]
    log.info("partners reload requested", extra={"actor": actor, "detail": change.summary()})
    return change


def follow(ctx: Context, following: Following) -> bool:
    """Apply a reload requested since `following.seen`; True when there is something to report
    (the first call, a version applied or refused)."""
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.get(ctx.keys.config_version)
    pipe.hget(ctx.keys.config_request, "allow_empty")
    raw, allow_empty = pipe.execute()
    version = int(raw or 0)
    if following.seen is None:
        following.seen = following.applied = version  # the file this process read at start is current
        if not ctx.redis.exists(ctx.keys.config_partners) and ctx.settings.partners:
            # What the first reload reports as changed is told against what the processes started with.
            ctx.redis.hset(ctx.keys.config_partners, mapping=fingerprints(ctx.settings))
        return True
    if version == following.seen:
        return False
    following.seen = version
    try:
        new = reread(ctx.settings, version)
    except ConfigError as exc:
        return _refuse(following, version, f"its partners file is invalid: {exc}")
    if allow_empty != b"1" and _enabled(ctx.settings) and not _enabled(new):
        return _refuse(following, version, f"its file {running_config.file_of(new) or '(none)'} leaves no enabled "
                                           "partner, and the reload did not say --allow-empty")
    change = diff(fingerprints(ctx.settings), fingerprints(new), new)
    _swap(ctx, new, change)
    following.applied, following.rejected = version, None
    following.cancelled = cancel(ctx, change.removed, "partner removed from the partners file") + \
        cancel(ctx, change.disabled, "partner disabled in the partners file")
    pipe = ctx.redis.pipeline(transaction=True)  # what the next reload's preview is told against
    pipe.delete(ctx.keys.config_partners)
    if new.partners:
        pipe.hset(ctx.keys.config_partners, mapping=fingerprints(new))
    pipe.execute()
    return True


def report(ctx: Context, name: str, kind: str, following: Following) -> None:
    """Say in `config:running` which configuration this process runs (running_config.py)."""
    running_config.report(ctx, name, kind, ctx.settings, following.applied, following.cancelled,
                          following.rejected)


def _refuse(following: Following, version: int, reason: str) -> bool:
    log.error("partners reload %d refused here, the running configuration stays: %s", version, reason)
    following.rejected = {"version": version, "reason": reason}
    return True


def _swap(ctx: Context, new, change: Change) -> None:
    ctx.publish(new)  # a new snapshot; batches running keep theirs (infra/context.py) and give the rest back
    if change.added or change.removed or change.disabled or change.changed:
        log.warning("partners reloaded: %s", change.summary())


def cancel(ctx: Context, partner_ids: list[str], reason: str, now: float | None = None) -> int:
    """Cancel the pending deliveries of partners a reload removed or disabled, with the reason.

    Only a process applying a reload does this, from its own transition (the configuration it ran
    against the one it now runs): never a requester (its environment is not the processes'), and
    never a process at start, since during a rolling deploy hosts may briefly hold different
    copies of the file and one must not cancel a partner another has just added."""
    now = now or time.time()
    cancelled = 0
    for pid in partner_ids:
        n = records.cancel_partner(ctx, pid, reason, now)
        if n:
            cancelled += n
            log.warning("partner %s: %d pending deliveries cancelled (%s)", pid, n, reason, extra={"partner": pid})
    return cancelled
