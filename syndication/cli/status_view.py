"""`syndication status`: one screen for the person on call. `--json` for scripts, `--watch` to follow,
`--check` for monitoring.

The screen: queue depths (with Celery's priority sub-queues and unacknowledged
messages), workers expected vs online per queue (from heartbeats, naming the
missing ones) and per host, the sweeper's last run, Redis memory against maxmemory, and per
partner: enabled, circuit, failing since, consecutive failures, why (last HTTP
status or error), waiting deliveries (in-flight included) and the oldest one's
age, retrying, success rate and p95 latency over the last hour; then dead
letters, dead events and the problems list (ops/status.problems). Times carry
their zone.

Exit codes: plain `status` exits 0 (it reports, it does not judge) or 1 with a
one-line error when Redis cannot be reached. `--check` prints one line and
exits as monitoring plugins do: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

from syndication.cli.common import context

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3


def snapshot(ctx) -> dict:
    from syndication.ops import status

    data = status.status(ctx)
    data["problems"] = status.problems(data)
    return data


def check_line(problems: list[dict]) -> tuple[int, str]:
    """The monitoring-plugin verdict: exit code and one line, critical problems first."""
    if not problems:
        return OK, "OK - all partners delivering, every queue has a worker, sweeper running"
    code = CRITICAL if any(p["severity"] == "critical" for p in problems) else WARNING
    return code, f"{'CRITICAL' if code == CRITICAL else 'WARNING'} - " + ", ".join(p["text"] for p in problems)


def local_time(ts: float | None, with_date: bool = False) -> str:
    """Local time with its zone name: 14:01:03 CET (or the ISO 8601 date too)."""
    if not ts:
        return "-"
    when = datetime.fromtimestamp(ts).astimezone()
    return when.isoformat(timespec="seconds") if with_date else f"{when:%H:%M:%S %Z}"


def _ago(ts: float | None, now: float) -> str:
    from syndication.ops.status import human_age

    return "-" if not ts else f"{local_time(ts)} ({human_age(now - ts)} ago)"


def _mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


def _workers_line(data: dict) -> str:
    parts = []
    for q, names in data["workers"]["queues"].items():
        expected = len(names["online"]) + len(names["missing"])
        colour = "bold red" if not names["online"] else ("yellow" if names["missing"] else "green")
        missing = f" missing: {', '.join(names['missing'])}" if names["missing"] else ""
        counts = f"{len(names['online'])}/{expected} online" if expected else "none known"
        parts.append(f"{q} [{colour}]{counts}[/]{missing}")
    return "workers: " + "   ".join(parts)


def _host_lines(data: dict) -> list[str]:
    """One line per worker host: what it runs online, or which of its workers are missing."""
    lines = []
    for host, w in data["workers"].get("hosts", {}).items():
        total = len(w["online"]) + len(w["missing"])
        colour = "bold red" if not w["online"] else ("yellow" if w["missing"] else "green")
        runs = ", ".join(f"{q} {n}" for q, n in sorted(w["queues"].items()))
        line = f"  host {host}: [{colour}]{len(w['online'])}/{total} online[/]" + (f" ({runs})" if runs else "")
        if w["missing"]:
            line += f" missing: {', '.join(w['missing'])}"
        lines.append(line)
    return lines


def _health_lines(data: dict) -> list[str]:
    from syndication.ops.status import human_age

    sw, mem = data["sweeper"], data["redis"]
    sweeper = ("[bold red]never ran[/]" if sw["last_run"] is None else
               f"last ran {local_time(sw['last_run'])} ({human_age(sw['age'])} ago)")
    limit = _mib(mem["maxmemory"]) if mem["maxmemory"] else "no maxmemory"
    memory = f"Redis memory: {_mib(mem['used_memory'])} of {limit}, policy {mem['policy']}"
    if mem["warning"]:
        memory += f"   [yellow]warning: {mem['warning']}[/]"
    return [_workers_line(data), *_host_lines(data), *_engine_line(data), *_topology_line(data),
            f"sweeper: {sweeper}", memory]


def _topology_line(data: dict) -> list[str]:
    t = data.get("topology")
    if not t:
        return []
    return [f"topology (settings v{t['settings_version']}): {t['delivery_processes']} deliveries process(es), "
            f"{t['worker_pool']} pool of {t['worker_threads']} per worker, {t['delivery_in_flight']} pushes in flight "
            f"per deliveries process, Redis pool {t['redis_pool_size']} (API {t['api_redis_pool_size']})"]


def _engine_line(data: dict) -> list[str]:
    e = data.get("engine")
    if not e or not e["processes"]:
        return []
    return [f"delivery engine: {e['processes']} process(es), {e['pushers']} pushes in flight allowed, {e['busy']} busy; "
            f"partners' max_in_flight: largest {e['partner_max_in_flight']}, sum {e['partner_max_in_flight_sum']}"]


def _why(p: dict) -> str:
    if not p["consecutive_failures"] and p["circuit"] == "closed":
        return "-"
    parts = [f"HTTP {p['last_status']}" if p.get("last_status") else "", p.get("last_error") or ""]
    why = ": ".join(x for x in parts if x) or "-"
    return why if len(why) <= 60 else why[:59] + "…"


WIDE = 150  # the partners table's 13 columns need this; a narrower terminal gets one block per partner


def _throttled(r: dict) -> str:
    """", [yellow]throttled[/] (5/1s, burst 5)" while the partner's rate limit holds deliveries back."""
    return f", [yellow]throttled[/] ({r.get('rate_limit')})" if r.get("throttled") else ""


def _partner_blocks(data: dict, colours: dict) -> list[str]:
    """The partners table as three short lines per partner, for an 80-column terminal."""
    from rich.markup import escape

    from syndication.ops.status import human_age

    now, lines = data["at"], ["partners"]
    for r in data["partners"]:
        enabled = "paused" if r["paused"] else ("enabled" if r["enabled"] else
                                                f"[red]disabled[/] {escape(r['disabled_reason'] or '')}")
        enabled += _throttled(r)
        rate = r["success_rate_last_hour"]
        p95 = r["p95_latency_ms_last_hour"]
        lines.append(f"  [bold]{escape(r['id'])}[/]: {enabled}, circuit "
                     f"[{colours.get(r['circuit'], '')}]{r['circuit']}[/]; last success {_ago(r['last_success_at'], now)}")
        lines.append(f"    waiting {r['waiting']} (in flight {r['in_flight']}, oldest "
                     f"{human_age(r['oldest_waiting_seconds'])}), retrying {r['retrying']}; 1h: "
                     f"{'-' if rate is None else f'{rate:.0%}'} ok, p95 {'-' if p95 is None else f'{p95:.0f}ms'}")
        if r["consecutive_failures"] or r["circuit"] != "closed":
            lines.append(f"    failing since {_ago(r['failing_since'], now)}, {r['consecutive_failures']} fails: "
                         f"{escape(_why(r))}")
    return lines


def render(data: dict, width: int = WIDE):
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table

    from syndication.ops.status import human_age

    now = data["at"]
    q = Table(title=f"queues at {local_time(now, with_date=True)}", title_justify="left")
    for col in ("queue", "depth"):
        q.add_column(col)
    for name, depth in data["queues"].items():
        q.add_row(name, str(depth))
    q.add_row("unacknowledged", str(data["unacked"]))
    q.add_row("events accepted, not applied", str(data["events_pending"]))
    dead = data.get("dead_events", 0)
    q.add_row("dead events (syndication events dead)", f"[bold red]{dead}[/]" if dead else "0")
    colours = {"open": "bold red", "half_open": "yellow", "closed": "green"}
    if width < WIDE:
        summary = (f"scheduled retries: {data['scheduled_retries']}   retrying: {data['retrying']}   "
                   f"dead letters: {data['dead_letters']}\ndead events: {data['dead_events']}   "
                   f"feeds waiting to render: {data['feeds_dirty']}")
        return Group(q, *_health_lines(data), *_partner_blocks(data, colours), summary, *websub_lines(data),
                     *_problem_lines(data))
    p = Table(title="partners", title_justify="left")
    for col in ("partner", "enabled", "circuit", "failing since", "fails", "why", "waiting", "in flight",
                "oldest", "retrying", "last success", "ok 1h", "p95 1h"):
        p.add_column(col)
    for r in data["partners"]:
        enabled = "paused" if r["paused"] else ("yes" if r["enabled"] else f"[red]no[/] {r['disabled_reason'] or ''}")
        enabled += _throttled(r)
        rate = r["success_rate_last_hour"]
        p.add_row(r["id"], enabled, f"[{colours.get(r['circuit'], '')}]{r['circuit']}[/]",
                  _ago(r["failing_since"], now), str(r["consecutive_failures"]), escape(_why(r)),
                  str(r["waiting"]), str(r["in_flight"]), human_age(r["oldest_waiting_seconds"]),
                  str(r["retrying"]), _ago(r["last_success_at"], now),
                  "-" if rate is None else f"{rate:.0%}",
                  "-" if r["p95_latency_ms_last_hour"] is None else f"{r['p95_latency_ms_last_hour']:.0f}ms")
    summary = (f"scheduled retries: {data['scheduled_retries']}   retrying: {data['retrying']}   "
               f"dead letters: {data['dead_letters']}   dead events: {data['dead_events']}   "
               f"feeds waiting to render: {data['feeds_dirty']}")
    return Group(q, *_health_lines(data), p, summary, *websub_lines(data), *_problem_lines(data))


def websub_lines(data: dict) -> list[str]:
    """Our own WebSub hub: subscriptions in all, by format and per topic that has any; subscribers' health."""
    from rich.markup import escape

    from syndication.ops.status import human_age

    hub = data.get("websub")
    if not hub or not hub["own_hub"]:
        return []
    t, h = hub["totals"], hub["subscribers"]
    formats = ", ".join(f"{fmt} {n['active']}/{n['unverified']}" for fmt, n in hub["by_format"].items())
    lines = [f"websub hub: {t['active']} active, {t['unverified']} unverified subscription(s)   "
             f"by format (active/unverified): {formats}"]
    lines += [f"  {escape(x['topic'])}: {x['active']} active, {x['unverified']} unverified"
              for x in hub["topics"] if x["active"] or x["unverified"]]
    open_ = f"[bold red]{h['circuits_open']}[/]" if h["circuits_open"] else "0"
    lines.append(f"  subscribers: {h['waiting_subscribers']} with deliveries waiting ({h['deliveries_waiting']} "
                 f"deliveries, oldest {human_age(h['oldest_waiting_seconds'])}), circuits open: {open_}")
    ended = ", ".join(f"{n} {reason}" for reason, n in hub["ended"].items())
    lines.append(f"  ended, kept {human_age(hub['ended_retention_seconds'])}: {ended}")
    return lines


def _problem_lines(data: dict) -> list[str]:
    from rich.markup import escape

    styles = {"critical": "bold red", "warning": "yellow"}
    problems = [f"[{styles[x['severity']]}]{x['severity'].upper()}[/] {escape(x['text'])}" for x in data["problems"]]
    return ["problems: " + ("none" if not problems else ""), *problems]


def _redis_down(exc: Exception) -> str:
    return f"cannot reach Redis ({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})"


def cmd_status(args) -> int:
    from redis.exceptions import RedisError

    from syndication.errors import ConfigError

    if getattr(args, "check", False):
        try:
            code, line = check_line(snapshot(context())["problems"])
        except (RedisError, OSError) as exc:
            code, line = UNKNOWN, f"UNKNOWN - {_redis_down(exc)}"
        except (ConfigError, SystemExit) as exc:  # settings_or_exit already said why on stderr
            code, line = UNKNOWN, f"UNKNOWN - configuration error{': ' + str(exc) if str(exc) not in ('', '2') else ''}"
        print(line)
        return code
    try:
        return _show(context(), args)
    except RedisError as exc:
        print(f"status: {_redis_down(exc)}", file=sys.stderr)
        return 1


def _show(ctx, args) -> int:
    from rich.console import Console
    from rich.live import Live

    if args.json:
        print(json.dumps(snapshot(ctx), indent=2))
        return 0
    console = Console()
    if not args.watch:
        console.print(render(snapshot(ctx), console.width))
        return 0
    with Live(render(snapshot(ctx), console.width), console=console, refresh_per_second=4) as live:
        while True:
            time.sleep(args.watch)
            live.update(render(snapshot(ctx), console.width))
