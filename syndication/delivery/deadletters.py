"""Dead letters, replay and discard: deliveries we gave up on, and what an operator does with them.

The one owner of `deadletters` and `partner:{id}:parked` (tests/unit/test_key_owners.py), and of
the one "make due again" script (`make_due_again`): replay, enabling a partner (its parked
deliveries) and backfill --force (delivered ones) differ only in their lifecycle step.

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

    enable(ctx, "kazinform")                                # after a 410: parked ones back to due

Nothing here needs Celery; the sweeper picks replayed deliveries up within a second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from syndication.delivery import circuit, lifecycle, records, schedule
from syndication.delivery.lifecycle import Step
from syndication.infra.context import Context

CHUNK = 200  # ids per round trip
REPLAYABLE = tuple(sorted(s.value for s in lifecycle.REPLAY.sources))
DISCARDABLE = tuple(sorted(s.value for s in lifecycle.DISCARD.sources))


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


# The dead-letter sets' Lua function, for the scripts below: a delivery leaves them.
LUA = """
local function forget_dead(dead, parked, id)
  redis.call('ZREM', dead, id)
  redis.call('ZREM', parked, id)
end
"""

# The one "make due again" (replay, enable, backfill --force). KEYS: the record's (records.py),
# deadletters, parked, the schedule's (due, inflight, ready), [the article]. ARGV: now, dry run
# (1/0), id, the step's sources, [the version that must still be the article's current one].
# Returns "done", "unknown" or "skip:<status>" / "skip:inflight" / "skip:moved".
_AGAIN = records.LUA + schedule.LUA + LUA + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'unknown' end
if ARGV[5] and ARGV[5] ~= '' then
  local cur = redis.call('HMGET', KEYS[9], 'version', 'withdrawn')
  if cur[1] ~= ARGV[5] or cur[2] == '1' then return 'skip:moved' end
end
if not one_of(status, ARGV[4]) then return 'skip:' .. status end
if in_flight(KEYS[7], ARGV[3]) then return 'skip:inflight' end
if ARGV[2] == '1' then return 'done' end
record_again(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
forget_dead(KEYS[4], KEYS[5], ARGV[3])
schedule_due(KEYS[6], ARGV[3], ARGV[1])
return 'done'
"""

# KEYS: the record's, deadletters, parked. ARGV: now, dry run (1/0), id, the step's sources, its
# target, retention (s). Returns "done", "unknown" or "skip:<status>".
_DISCARD = records.LUA + LUA + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'unknown' end
if not one_of(status, ARGV[4]) then return 'skip:' .. status end
if ARGV[2] == '1' then return 'done' end
record_finish(KEYS[1], KEYS[2], KEYS[3], ARGV[5], ARGV[1], ARGV[6], '')
forget_dead(KEYS[4], KEYS[5], ARGV[3])
return 'done'
"""


def queue_dead(pipe, keys, delivery_id: str, now: float) -> None:
    """Queue: the delivery is a dead letter (its status is written with it, outcome_group.py)."""
    pipe.zadd(keys.deadletters, {delivery_id: now})


def queue_parked(pipe, keys, partner_id: str, delivery_id: str, now: float) -> None:
    """Queue: the delivery waits for its partner to be enabled again."""
    pipe.zadd(keys.partner_parked(partner_id), {delivery_id: now})


def count(ctx: Context) -> int:
    return int(ctx.redis.zcard(ctx.keys.deadletters))


def newest(ctx: Context, n: int) -> list[str]:
    """The `n` newest dead-letter ids, newest first."""
    return [i.decode() for i in ctx.redis.zrevrange(ctx.keys.deadletters, 0, n - 1)]


def parked(ctx: Context, partner_id: str) -> list[str]:
    return [d.decode() for d in ctx.redis.zrange(ctx.keys.partner_parked(partner_id), 0, -1)]


def queue_parked_count(pipe, keys, partner_id: str) -> None:
    pipe.zcard(keys.partner_parked(partner_id))


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


def _run(ctx: Context, script: str, ids: Iterable[str], step: Step, dry_run: bool, progress, *,
         at: dict[str, float] | None = None, current: dict[str, tuple[str, int]] | None = None,
         extra: list | None = None) -> dict[str, str]:
    """Run `script` on each id, CHUNK at a time; the verdict of each id (partners read first: keys).
    `at`: when each id is due (default now); `current`: the (article, version) each must still be."""
    k, sc, verdicts, current = ctx.keys, ctx.script(script), {}, current or {}
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
            article, version = current.get(did, (None, ""))
            keys = [*records.script_keys(ctx, did), k.deadletters, k.partner_parked(pid),
                    *schedule.DueSchedule(ctx, pid).script_keys(), *([k.article(article)] if article else [])]
            sc(keys=keys, args=[(at or {}).get(did) or time.time(), int(dry_run), did, records.sources(step),
                                *(extra or [version])], client=pipe)
            asked.append(did)
        for did, verdict in zip(asked, pipe.execute()):
            verdicts[did] = verdict.decode() if isinstance(verdict, bytes) else verdict
        if progress:
            progress(len(chunk))
    return verdicts


def make_due_again(ctx: Context, ids: list[str], step: Step, *, dry_run: bool = False, progress=None,
                   at: dict[str, float] | None = None,
                   current: dict[str, tuple[str, int]] | None = None) -> dict[str, str]:
    """Make each id due again (replay, enable, backfill --force) if `step` allows it from its status
    and it is not in flight; with `current`, only while its version is still the article's current
    one. Keeps the id and the attempts, starts a fresh retry budget. Verdicts: "done", "unknown",
    "skip:<why>"."""
    return _run(ctx, _AGAIN, ids, step, dry_run, progress, at=at, current=current)


def replay(ctx: Context, ids: list[str], progress: Callable[[int], None] | None = None, *,
           dry_run: bool = False) -> ReplayResult:
    """Replay each id that is waiting for someone (dead, parked, retrying); skip the rest with a reason.

    `progress(n)` is called as ids are done (for a progress bar). `dry_run`: decide, change nothing.
    """
    out = ReplayResult()
    verdicts = make_due_again(ctx, ids, lifecycle.REPLAY, dry_run=dry_run, progress=progress)
    _sort(verdicts, out, out.replayed, _REPLAY_SKIPS, "not replayable")
    return out


def _sort(verdicts: dict[str, str], out, done: list[str], reasons: dict[str, str], otherwise: str) -> None:
    """File each id's verdict: `done`, `out.unknown`, or `out.skipped` with the reason for its status."""
    for did, verdict in verdicts.items():
        if verdict == "done":
            done.append(did)
        elif verdict == "unknown":
            out.unknown.append(did)
        else:
            status = verdict.removeprefix("skip:")
            out.skipped[did] = reasons.get(status, f"{status}: {otherwise}")


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
    out, step = DiscardResult(), lifecycle.DISCARD
    verdicts = _run(ctx, _DISCARD, ids, step, dry_run, None, extra=[step.target.value, records.retention_ttl(ctx)])
    _sort(verdicts, out, out.discarded, _DISCARD_SKIPS, "a finished delivery, not a dead letter")
    return out


def enable(ctx: Context, partner_id: str) -> int:
    """Re-enable a partner disabled by a 410 (its circuit starts closed); its parked deliveries
    become due again. Returns how many."""
    circuit.reset(ctx, partner_id)
    verdicts = make_due_again(ctx, parked(ctx, partner_id), lifecycle.ENABLE)
    return sum(1 for v in verdicts.values() if v == "done")
