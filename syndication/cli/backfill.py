"""`syndication partners backfill PARTNER --last N | --since TIME [--force] [--dry-run]`.

Creates the partner's deliveries of the current version of every published, non-embargoed
article that matches its filters (delivery/backfill.py), oldest first, with a progress bar on
a terminal (plain lines otherwise) and one summary line:

    kazinform: 20 matched, 20 deliveries created, 0 already there

`--last` is 1..10000 in ASCII digits (cli/options.py); `--since` is 30m, 2h, 1d or an RFC 3339
time with its zone (syndication/inputs.py, the same reading as the HTTP body).

Exit codes: 0 done, 2 an unknown or disabled partner or bad options (one line), 1 Redis
unreachable (one line). A run that is not a dry run writes one audit record (actor `cli:$USER`).
"""

from __future__ import annotations

import sys

from syndication import inputs
from syndication.cli.common import settings_or_exit


class _Progress:
    """`progress(done, total)` for backfill.run: a rich bar on a terminal, else a line per page on stderr."""

    def __init__(self, what: str):
        self.what, self.bar, self.task = what, None, None

    def __call__(self, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            print(f"{self.what}: {done}/{total}", file=sys.stderr, flush=True)
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _bad(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def cmd_partners_backfill(args) -> int:
    from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeout

    from syndication.cli.dead_letters import actor
    from syndication.delivery import backfill
    from syndication.infra.context import Context
    from syndication.ops import audit

    if (args.last is None) == (args.since is None):
        return _bad("give --last N or --since TIME (one of them)")
    if args.last is not None and not 1 <= args.last <= backfill.MAX_LAST:  # options.count read it
        return _bad(f"--last must be between 1 and {backfill.MAX_LAST}")
    # Read as the HTTP route reads its body (syndication/inputs.py): a bounded time, ASCII digits.
    try:
        since = None if args.since is None else inputs.instant(args.since)
    except inputs.BadInput as exc:
        return _bad(f"--since {exc}")
    ctx = Context.build(settings_or_exit())
    try:
        backfill.partner_of(ctx, args.partner)
    except (backfill.UnknownPartner, backfill.PartnerDisabled) as exc:
        where = f" in {ctx.settings.partners_file}" if ctx.settings.partners_file else ""
        known = ", ".join(p.id for p in ctx.settings.partners) or "none"
        return _bad(f"{exc}{where} (partners: {known})" if isinstance(exc, backfill.UnknownPartner) else f"{exc}")
    selection = f"last {args.last}" if args.last is not None else f"since {args.since}"
    progress = _Progress(f"backfilling {args.partner}")
    try:
        result = backfill.run(ctx, args.partner, last=args.last, since=since, force=args.force,
                              dry_run=args.dry_run, progress=progress)
        if not args.dry_run:
            audit.record(ctx, "backfill", target=f"partner {args.partner}", actor=actor(), selection=selection,
                         matched=result.matched, created=result.created, skipped=result.skipped,
                         forced=result.forced)
    except (RedisConnectionError, RedisTimeout) as exc:
        print(f"cannot reach Redis: {exc}", file=sys.stderr)
        return 1
    finally:
        progress.close()
    print(summary(args.partner, result))
    return 0


def summary(partner_id: str, result) -> str:
    """The one summary line; "already there" counts every existing delivery, forced ones included."""
    there = result.matched - result.created
    again = ""
    if result.forced:
        again = f" ({result.forced} {'would be ' if result.dry_run else ''}made due again, same delivery ids)"
    if result.dry_run:
        return (f"dry run: {partner_id}: {result.matched} matched, would create {result.created}, "
                f"{there} already there{again}; nothing changed")
    return f"{partner_id}: {result.matched} matched, {result.created} deliveries created, {there} already there{again}"
