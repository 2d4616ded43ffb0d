"""`syndication deliveries replay|discard`: dead letters back in line, or given up on, with a report.

    syndication deliveries replay ID... | --partner P [--since T] [--until T] | --all  [--dry-run] [--wait [S]]
    syndication deliveries discard ID... | --partner P | --all  [--dry-run]

By id, any delivery may be named; only dead, parked and retrying ones are
replayed (only dead and parked ones discarded), the rest are skipped with
the reason. The selectors (--partner, --since, --until, --all) pick dead
letters. `--wait` follows each replayed delivery until it was attempted
again (or ended unsent) and prints each outcome and a summary. Exit codes:
0 done (with --wait: every replayed delivery landed), 1 some failed again or
were still waiting at the deadline, 2 bad input (an unknown id, no selection, a time or
--wait that syndication/inputs.py does not read: times are 30m, 2h, 1d or RFC 3339 with a
zone, --wait is 0..86400 seconds in ASCII digits; one line naming the option).
Every run that changes something writes one audit record (actor `cli:$USER`).
"""

from __future__ import annotations

import os
import sys
import time

from syndication import inputs
from syndication.cli.common import context


def actor() -> str:
    """Who acts from the command line, for the audit trail."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME")
    return f"cli:{user}" if user else "cli"


def _selection(args, ctx) -> tuple[list[str], str] | None:
    """The ids to act on and how the audit trail names them; None: nothing was selected."""
    from syndication.delivery import deadletters

    if args.ids:
        ids = list(dict.fromkeys(args.ids))
        shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        return ids, f"deliveries {shown}"
    since, until = _time(args, "since"), _time(args, "until")
    if not (args.partner or since is not None or until is not None or args.all):
        return None
    words = [f"of partner {args.partner}" if args.partner else "",
             f"since {getattr(args, 'since')}" if since is not None else "",
             f"until {getattr(args, 'until')}" if until is not None else ""]
    target = " ".join(["dead letters", *(w for w in words if w)]) if any(words) else "every dead letter"
    return deadletters.select(ctx, partner=args.partner, since=since, until=until), target


def _time(args, name: str) -> float | None:
    """--since / --until read strictly (syndication/inputs.py); BadInput names the option."""
    value = getattr(args, name, None)
    try:
        return None if value is None else inputs.instant(value)
    except inputs.BadInput as exc:
        raise inputs.BadInput(f"--{name} {exc}") from None


def _bad(exc: Exception) -> int:
    print(exc, file=sys.stderr)
    return 2


class _Progress:
    """A rich progress bar on a terminal; otherwise one plain line per chunk on stderr."""

    def __init__(self, what: str, total: int):
        self.what, self.total, self.done = what, total, 0
        self.bar = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)

    def __enter__(self):
        if self.bar:
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=self.total)
        return self

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar:
            self.bar.advance(self.task, n)
        else:
            print(f"{self.what}: {self.done}/{self.total}", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self.bar:
            self.bar.stop()


def _describe(rec: dict | None) -> str:
    if rec is None:
        return ""
    return f"  {rec['partner']}  {rec['article_id']} v{rec['version']}  was {rec['status']}"


def cmd_deliveries_replay(args) -> int:
    from syndication.delivery import deadletters, records
    from syndication.ops import audit

    ctx = context()
    try:
        picked = _selection(args, ctx)
    except inputs.BadInput as exc:
        return _bad(exc)
    if picked is None:
        print("give delivery ids, or --partner/--since/--until, or --all (every dead letter)", file=sys.stderr)
        return 2
    ids, target = picked
    if args.dry_run:
        result = deadletters.replay(ctx, ids, dry_run=True)
        recs = {r["id"]: r for r in records.get_many(ctx, result.replayed)}
        for did in result.replayed:
            print(f"would replay {did}{_describe(recs.get(did))}")
        for did, why in result.skipped.items():
            print(f"would skip {did}: {why}")
        print(f"dry run: would replay {len(result.replayed)}, skip {len(result.skipped)}; nothing changed")
        return _unknown(result.unknown)
    with _Progress("replaying", len(ids)) as progress:
        result = deadletters.replay(ctx, ids, progress=progress)
    if result.replayed or result.skipped:
        audit.record(ctx, "replay", target=target, actor=actor(), count=len(result.replayed),
                     skipped=len(result.skipped))
    print(f"replayed {len(result.replayed)} deliveries (same delivery ids); due now")
    for did, why in result.skipped.items():
        print(f"skipped {did}: {why}")
    code = _unknown(result.unknown)
    if args.wait is not None and result.replayed:
        failed = _wait(ctx, result.replayed, args.wait)
        code = code or (1 if failed else 0)
    return code


def _unknown(ids: list[str]) -> int:
    for did in ids:
        print(f"unknown delivery id: {did}", file=sys.stderr)
    return 2 if ids else 0


def _wait(ctx, ids: list[str], seconds: float) -> int:
    """Follow the replayed deliveries until each settled or the deadline; print each; return how many
    did not land (failed again, or still waiting)."""
    from syndication.delivery import deadletters, records

    deadline = time.monotonic() + seconds
    settled: dict[str, deadletters.Outcome] = {}
    with _Progress("waiting for outcomes", len(ids)) as progress:
        while True:
            waiting = [i for i in ids if i not in settled]
            recs = {r["id"]: r for r in records.get_many(ctx, waiting)}
            newly = 0
            for did in waiting:
                out = deadletters.outcome(recs.get(did))
                if out.settled:
                    settled[did], newly = out, newly + 1
                    print(f"{did}  {out.label}", flush=True)
            if newly:
                progress(newly)
            if len(settled) == len(ids) or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    late = [i for i in ids if i not in settled]
    recs = {r["id"]: r for r in records.get_many(ctx, late)}
    for did in late:
        print(f"{did}  timed out: {deadletters.outcome(recs.get(did)).label} after {seconds:g}s")
    landed = sum(1 for o in settled.values() if o.landed)
    failed = len(settled) - landed
    print(f"waited: {landed} landed, {failed} failed again, {len(late)} timed out (of {len(ids)} replayed)")
    return failed + len(late)


def cmd_deliveries_discard(args) -> int:
    from syndication.delivery import deadletters, records
    from syndication.ops import audit

    ctx = context()
    try:
        picked = _selection(args, ctx)
    except inputs.BadInput as exc:
        return _bad(exc)
    if picked is None:
        print("give delivery ids, or --partner P, or --all (every dead letter)", file=sys.stderr)
        return 2
    ids, target = picked
    result = deadletters.discard(ctx, ids, dry_run=args.dry_run)
    if args.dry_run:
        recs = {r["id"]: r for r in records.get_many(ctx, result.discarded)}
        for did in result.discarded:
            print(f"would discard {did}{_describe(recs.get(did))}")
        for did, why in result.skipped.items():
            print(f"would skip {did}: {why}")
        print(f"dry run: would discard {len(result.discarded)}, skip {len(result.skipped)}; nothing changed")
        return _unknown(result.unknown)
    if result.discarded or result.skipped:
        audit.record(ctx, "discard", target=target, actor=actor(), count=len(result.discarded),
                     skipped=len(result.skipped))
    print(f"discarded {len(result.discarded)} dead letters (kept as 'discarded' until the retention ends)")
    for did, why in result.skipped.items():
        print(f"skipped {did}: {why}")
    return _unknown(result.unknown)
