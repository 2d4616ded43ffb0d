"""`syndication status`: one screen for the person on call. `--json` for scripts, `--watch` to follow.

Shows queue depths (with Celery's priority sub-queues and unacknowledged
messages), workers online (a broadcast ping with a short timeout), and per
partner: enabled, circuit, failing since, consecutive failures, waiting
deliveries and the oldest one's age, scheduled retries, success rate and
p95 latency over the last hour; then dead letters.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from syndication.cli.common import context


def workers_online(timeout: float = 1.0) -> list[str] | None:
    """Names of workers answering a ping within `timeout`; None if the broker cannot be asked."""
    try:
        from workers.app import app

        replies = app.control.ping(timeout=timeout) or []
    except Exception:  # the broker is down: say "unknown", do not crash the status screen
        return None
    return sorted(name for reply in replies for name in reply)


def snapshot(ctx, ping: bool = True) -> dict:
    from syndication.ops import status

    data = status.status(ctx)
    data["workers"] = workers_online() if ping else None
    return data


def _ago(ts: float | None, now: float) -> str:
    from syndication.ops.status import human_age

    if not ts:
        return "-"
    return f"{datetime.fromtimestamp(ts, timezone.utc):%H:%M:%S} ({human_age(now - ts)} ago)"


def render(data: dict):
    from rich.console import Group
    from rich.table import Table

    from syndication.ops.status import human_age

    now = data["at"]
    q = Table(title="queues", title_justify="left")
    for col in ("queue", "depth"):
        q.add_column(col)
    for name, depth in data["queues"].items():
        q.add_row(name, str(depth))
    q.add_row("unacknowledged", str(data["unacked"]))
    q.add_row("events accepted, not applied", str(data["events_pending"]))
    dead = data.get("dead_events", 0)
    q.add_row("dead events (syndication events dead)", f"[bold red]{dead}[/]" if dead else "0")
    workers = data["workers"]
    w = "workers online: " + ("unknown (broker unreachable)" if workers is None else
                              (", ".join(workers) if workers else "[bold red]none[/]"))
    p = Table(title="partners", title_justify="left")
    for col in ("partner", "enabled", "circuit", "failing since", "fails", "waiting", "oldest", "retries",
                "last success", "ok 1h", "p95 1h"):
        p.add_column(col)
    colours = {"open": "bold red", "half_open": "yellow", "closed": "green"}
    for r in data["partners"]:
        enabled = "paused" if r["paused"] else ("yes" if r["enabled"] else f"[red]no[/] {r['disabled_reason'] or ''}")
        rate = r["success_rate_last_hour"]
        p.add_row(r["id"], enabled, f"[{colours.get(r['circuit'], '')}]{r['circuit']}[/]",
                  _ago(r["failing_since"], now), str(r["consecutive_failures"]), str(r["waiting"]),
                  human_age(r["oldest_waiting_seconds"]), str(r["scheduled_retries"]), _ago(r["last_success_at"], now),
                  "-" if rate is None else f"{rate:.0%}",
                  "-" if r["p95_latency_ms_last_hour"] is None else f"{r['p95_latency_ms_last_hour']:.0f}ms")
    summary = (f"scheduled retries: {data['scheduled_retries']}   dead letters: {data['dead_letters']}   "
               f"feeds waiting to render: {data['feeds_dirty']}")
    return Group(q, w, p, summary)


def cmd_status(args) -> int:
    from rich.console import Console
    from rich.live import Live

    ctx = context()
    if args.json:
        print(json.dumps(snapshot(ctx), indent=2))
        return 0
    console = Console()
    if not args.watch:
        console.print(render(snapshot(ctx)))
        return 0
    with Live(render(snapshot(ctx)), console=console, refresh_per_second=4) as live:
        while True:
            time.sleep(args.watch)
            live.update(render(snapshot(ctx)))
