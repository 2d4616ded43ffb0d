"""Dead letters, replay and discard: deliveries we gave up on, and what an operator does with them.

A delivery becomes a dead letter after a permanent failure (a 4xx), after
its retry budget (max attempts or max age) runs out, or when our address
guard refuses the partner URL. It keeps every attempt and never expires.

A replay keeps the delivery id (so the partner can still dedupe), keeps the
attempt history, starts a fresh retry budget and makes the delivery due now.
Only a delivery waiting for someone is replayed: a dead letter, a parked
one, or a retrying one (due now instead of at its back-off time). Anything
else is skipped with the reason: a finished delivery (delivered, superseded,
cancelled, discarded) is never rewritten, so replaying an old version's
delivered record cannot make it pending again; a pending one is due
already; one in flight is being attempted right now. The check and the
write are one Lua script, so a push recording an outcome at the same moment
cannot slip between them. Whether a replayed delivery is still worth
sending (its article may have moved past its version) is decided by the
push, as for every delivery: it ends superseded, never sent.

Discard ends a dead (or parked) delivery for good. The record is kept,
with status `discarded`, and expires with the retention like a delivered
one, rather than being deleted at once: `deliveries show ARTICLE` and the
API still answer "what happened to kazinform's copy of v3?" for as long as
they do for any finished delivery (the audit trail says who discarded it),
and nothing is left pointing at a deleted record. It leaves the dead-letter
set at once, so it stops counting as a dead letter and leaves `dead`
listings.

    ids = select(ctx, partner="kazinform", since=t0)       # dead letters of one partner
    replay(ctx, ids)                                        # back to due, now
    discard(ctx, select(ctx, partner="kazinform"))          # or give up on them

Nothing here needs Celery; the sweeper picks replayed deliveries up within a second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from syndication.delivery import records
from syndication.infra.context import Context

CHUNK = 200  # ids per round trip
REPLAYABLE = ("dead", "parked", "retrying")
DISCARDABLE = ("dead", "parked")


@dataclass
class ReplayResult:
    replayed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # id -> why it was not replayed
    unknown: list[str] = field(default_factory=list)


@dataclass
class DiscardResult:
    discarded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # id -> why it was not discarded
    unknown: list[str] = field(default_factory=list)


# KEYS: delivery, attempts, deadletters, partner parked, partner due, partner inflight.
# ARGV: now, dry run (1/0). Returns "replayed", "unknown" or "skip:<status>" / "skip:inflight".
_REPLAY = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'unknown' end
if status ~= 'dead' and status ~= 'parked' and status ~= 'retrying' then return 'skip:' .. status end
if redis.call('ZSCORE', KEYS[6], ARGV[3]) then return 'skip:inflight' end
if ARGV[2] == '1' then return 'replayed' end
local attempts = redis.call('HGET', KEYS[1], 'attempts') or '0'
redis.call('HSET', KEYS[1], 'status', 'pending', 'updated_at', ARGV[1], 'next_attempt_at', ARGV[1],
           'attempts_base', attempts, 'replayed_at', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'replays', 1)
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[1], ARGV[3])
return 'replayed'
"""

# KEYS: delivery, attempts, deadletters, partner parked. ARGV: now, dry run (1/0), id, retention (s).
_DISCARD = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'unknown' end
if status ~= 'dead' and status ~= 'parked' then return 'skip:' .. status end
if ARGV[2] == '1' then return 'discarded' end
redis.call('HSET', KEYS[1], 'status', 'discarded', 'updated_at', ARGV[1], 'finished_at', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[3])
return 'discarded'
"""

_REPLAY_SKIPS = {
    "delivered": "delivered: a finished delivery is never replayed",
    "superseded": "superseded: a newer version replaced it; a finished delivery is never replayed",
    "cancelled": "cancelled: the article was withdrawn; a finished delivery is never replayed",
    "discarded": "discarded: an operator gave up on it",
    "pending": "pending: already due",
    "inflight": "in flight: being attempted right now",
}
_DISCARD_SKIPS = {
    "pending": "pending: not a dead letter (still to be sent)",
    "retrying": "retrying: not a dead letter (still to be sent)",
    "discarded": "discarded already",
}


def select(ctx: Context, *, partner: str | None = None, since: float | None = None,
           until: float | None = None) -> list[str]:
    """Dead-letter ids, oldest first, by partner and/or time of death."""
    ids = [i.decode() for i in ctx.redis.zrangebyscore(
        ctx.keys.deadletters, since if since is not None else "-inf", until if until is not None else "+inf")]
    if partner:
        recs = records.get_many(ctx, ids)
        ids = [r["id"] for r in recs if r["partner"] == partner]
    return ids


def _run(ctx: Context, script: str, ids: Iterable[str], dry_run: bool, progress, extra_keys, args) -> dict[str, str]:
    """Run `script` on each id, CHUNK at a time; the verdict of each id (partners read first: keys)."""
    k, sc, verdicts = ctx.keys, ctx.script(script), {}
    ids = list(dict.fromkeys(ids))  # once each, in order
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        pipe = ctx.redis.pipeline(transaction=False)
        for did in chunk:
            pipe.hget(k.delivery(did), "partner")
        partners = pipe.execute()
        pipe = ctx.redis.pipeline(transaction=False)
        asked = []
        for did, partner in zip(chunk, partners):
            if partner is None:
                verdicts[did] = "unknown"
                continue
            pid = partner.decode()
            sc(keys=[k.delivery(did), k.delivery_attempts(did), k.deadletters, k.partner_parked(pid),
                     *extra_keys(pid)],
               args=[time.time(), int(dry_run), did, *args], client=pipe)
            asked.append(did)
        for did, verdict in zip(asked, pipe.execute()):
            verdicts[did] = verdict.decode() if isinstance(verdict, bytes) else verdict
        if progress:
            progress(len(chunk))
    return verdicts


def replay(ctx: Context, ids: list[str], progress: Callable[[int], None] | None = None, *,
           dry_run: bool = False) -> ReplayResult:
    """Replay each id that is waiting for someone (dead, parked, retrying); skip the rest with a reason.

    `progress(n)` is called as ids are done (for a progress bar). `dry_run`: decide, change nothing.
    """
    k, out = ctx.keys, ReplayResult()
    verdicts = _run(ctx, _REPLAY, ids, dry_run, progress,
                    lambda pid: [k.partner_due(pid), k.partner_inflight(pid)], [])
    for did, verdict in verdicts.items():
        if verdict == "replayed":
            out.replayed.append(did)
        elif verdict == "unknown":
            out.unknown.append(did)
        else:
            status = verdict.removeprefix("skip:")
            out.skipped[did] = _REPLAY_SKIPS.get(status, f"{status}: not replayable")
    return out


def replay_one(ctx: Context, did: str) -> bool:
    """Replay one delivery; True if it was replayed (False: unknown, or skipped: see `replay`)."""
    return bool(replay(ctx, [did]).replayed)


@dataclass(frozen=True)
class Outcome:
    """Where a replayed delivery stands: `settled` once it was attempted again (or ended unsent)."""

    settled: bool
    landed: bool  # delivered, or ended unsent because a newer version took its place
    label: str


def outcome(rec: dict | None) -> Outcome:
    """The outcome of a replayed delivery from its record (for `replay --wait` and /ops)."""
    if rec is None:
        return Outcome(True, False, "gone (no record)")
    status = rec["status"]
    why = _last_failure(rec)
    if status == "delivered":
        return Outcome(True, True, f"delivered (attempt {rec.get('attempts', 0)})")
    if status in ("superseded", "cancelled"):
        return Outcome(True, True, f"skipped as {status}")
    if status in ("dead", "parked", "discarded"):
        return Outcome(True, False, f"failed again: {status}{why}")
    if status == "retrying" and rec.get("attempts", 0) > rec.get("attempts_base", 0):
        return Outcome(True, False, f"failed again: retrying{why}")
    return Outcome(False, False, f"still {status}")


def _last_failure(rec: dict) -> str:
    parts = [f"HTTP {rec['last_status']}" if rec.get("last_status") not in (None, "") else "",
             rec.get("last_error") or ""]
    text = ": ".join(p for p in parts if p)
    return f" ({text[:120]})" if text else ""


def discard(ctx: Context, ids: list[str], *, dry_run: bool = False) -> DiscardResult:
    """End dead (or parked) deliveries for good: status `discarded`, out of the dead letters, expiring
    with the retention. Anything else is skipped with a reason."""
    out = DiscardResult()
    verdicts = _run(ctx, _DISCARD, ids, dry_run, None, lambda pid: [], [records.retention_ttl(ctx)])
    for did, verdict in verdicts.items():
        if verdict == "discarded":
            out.discarded.append(did)
        elif verdict == "unknown":
            out.unknown.append(did)
        else:
            status = verdict.removeprefix("skip:")
            out.skipped[did] = _DISCARD_SKIPS.get(status, f"{status}: a finished delivery, not a dead letter")
    return out
