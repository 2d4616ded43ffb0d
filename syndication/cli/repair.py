"""Ops commands: config check, schema, delivery history, partner pause/resume/enable, dead events.

Replay and discard of dead letters live in dead_letters.py. Every command that changes
something writes one audit record (ops/audit.py), actor `cli:$USER`.
"""

from __future__ import annotations

import json
import sys

from syndication.articles import ArticleStore
from syndication.cli.common import context, parse_time, require_redis, settings_or_exit
from syndication.cli.dead_letters import actor
from syndication.cli.shown import shown, shown_block


def cmd_config_check(args) -> int:
    """Exit 0 ok, 1 Redis unreachable (one line; `--offline` skips the ping), 2 a file is invalid
    or a partner's address is refused or unresolved."""
    settings = settings_or_exit()
    from syndication.cli.common import redacted_url
    from syndication.partners.target import check_address
    from syndication.errors import AddressRefused

    offline = getattr(args, "offline", False)
    if not offline:
        require_redis(settings.redis_url)
    print(f"redis: {redacted_url(settings.redis_url)} (prefix {settings.key_prefix!r})"
          f"{': not pinged (--offline)' if offline else ': answers'}")
    print(f"base url: {settings.base_url}; websub hub: {settings.websub_hub or '-'}")
    if settings.websub_own_hub:
        print(f"websub hub (our own, POST /websub): at most {settings.websub_max_subscriptions} subscriptions, "
              f"{settings.websub_max_per_host} per callback host; {settings.websub_subscribe_rate} requests a "
              f"minute per client address; leases {settings.websub_min_lease:.0f}-{settings.websub_max_lease:.0f} s "
              f"(default {settings.websub_lease:.0f}); {settings.websub_max_attempts} attempts per delivery; "
              f"private callbacks {'ALLOWED' if settings.websub_allow_private_callbacks else 'refused'}")
    print(f"publisher keys: {len(settings.api_keys)}; ops keys: {len(settings.ops_keys)}")
    print(f"feeds ({settings.feeds_file or 'built-in default'}): {', '.join(f.name for f in settings.feeds)}")
    problems = 0
    print(f"partners ({settings.partners_file or 'none configured'}):")
    for p in settings.partners:
        note = "ok"
        try:
            if p.target is not None:  # pull only: nothing is sent
                check_address(p.target)
        except AddressRefused as exc:
            note, problems = f"REFUSED: {exc}", problems + 1
        except OSError as exc:  # not a refusal (deliveries retry it), but worth a look now
            note, problems = f"UNRESOLVED: cannot resolve the host now: {exc}", problems + 1
        where = f"{p.target.url} [{p.target.auth.type}]" if p.target else "pull only"
        tls = f" [tls: {' + '.join(k for k in ('ca_file', 'client_cert') if getattr(p.target.tls, k))}]" \
            if p.target and p.target.tls else ""
        rate = (f" [rate limit: {p.target.rate_limit}]" if p.target.rate_limit else " [no rate limit]") \
            if p.target else ""
        portal = f" [portal: {p.portal.token_env}]" if p.portal else " [portal: pull token]" if p.pull else ""
        print(f"  {p.id}: {p.format} -> {where}{tls}{rate}{portal} {note}")
    system = [t for t in (settings.websub_target, settings.ops_webhook_target) if t is not None]
    print(f"system targets (not partners): {', '.join(f'{t.id} -> {t.url}' for t in system) or 'none'}")
    problems += _check_engine(settings)
    if not settings.api_keys:
        print("warning: SYNDICATION_API_KEYS is empty")
    return 2 if problems else 0


def _check_engine(settings) -> int:
    """Pushes in flight per process against what partners may hold: the problems found (each printed).

    A partner holds at most its `max_in_flight` pushers, and one that hangs holds them only until
    its first read timeout: it is then cut to one request in flight (delivery/circuit.py) until it
    answers, and its circuit opens after failing for `breaker_failing_for`. So a partner allowed more than
    half of a process's pushers is refused (hanging, it alone would stall the others for a
    read timeout); a sum above the pushers is reported, since only partners hanging at the same
    moment hold their full share, and each for one read timeout."""
    pushers = settings.delivery_in_flight
    targets = settings.targets
    total = sum(p.max_in_flight for p in targets)
    print(f"topology: {settings.delivery_processes} deliveries process(es) (SYNDICATION_DELIVERY_PROCESSES), "
          f"Celery {settings.worker_pool} pool of {settings.worker_threads} per worker")
    print(f"delivery engine: {pushers} pushes in flight per deliveries process (SYNDICATION_DELIVERY_IN_FLIGHT), "
          f"Redis pool {settings.redis_pool_size} (API {settings.api_redis_pool_size}); "
          f"partners' max_in_flight sum {total}")
    problems = 0
    for name, why in settings.retired.items():
        print(f"  warning: {name} is retired and ignored: {why}")
    for p in targets:
        if p.max_in_flight * 2 > pushers:
            problems += 1
            print(f"  REFUSED: partner {p.id}: max_in_flight {p.max_in_flight} is more than half of the "
                  f"{pushers} pushes in flight per process: hanging, it would hold them until its read timeout; "
                  "lower max_in_flight or raise SYNDICATION_DELIVERY_IN_FLIGHT")
    if total >= pushers and not problems:
        print("  note: partners hanging at the same moment could hold every pusher for one read timeout; "
              "each is then cut to one request in flight")
    return problems


def cmd_schema(args) -> int:
    from syndication.event_schema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_deliveries_show(args) -> int:
    from syndication.delivery import records

    ctx = context()
    recs = records.for_article(ctx, args.article_id)
    if not recs:
        return _no_deliveries_of(ctx, args.article_id)
    if args.json:
        print(json.dumps([{**r, "attempt_log": records.attempts(ctx, r["id"]),
                           "last_request": records.last_request(ctx, r["id"])} for r in recs], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"deliveries of {args.article_id}")
    for col in ("delivery", "partner", "version", "type", "status", "attempt", "at", "http", "ms", "trace", "error"):
        table.add_column(col)
    from datetime import datetime, timezone

    for r in recs:
        tries = records.attempts(ctx, r["id"]) or [{}]
        for a in tries:
            at = datetime.fromtimestamp(a["at"], timezone.utc).strftime("%H:%M:%S") if a.get("at") else "-"
            table.add_row(r["id"], r["partner"], str(r["version"]), r["event_type"], r["status"],
                          str(a.get("n", "-")), at, str(a.get("status") or "-"),
                          str(a.get("latency_ms", "-")), (a.get("traceparent") or "")[3:35] or r.get("trace_id", "-"),
                          (a.get("error") or "")[:40])
    Console().print(table)
    if args.request:
        for r in recs:
            _print_request(r["id"], records.last_request(ctx, r["id"]))
    return 0


def _print_request(did: str, req: dict | None) -> None:
    """The request a delivery's last attempt sent: headers, then the body as sent (escaped for the terminal)."""
    if req is None:
        print(f"\n{did}: no request kept (not sent yet, or its last attempt could not be prepared)")
        return
    print(f"\n{did}: request of attempt {req['attempt']} ({req['body_bytes']} bytes"
          f"{', body in base64' if req['encoding'] == 'base64' else ''}):")
    for name, value in req["headers"].items():
        print(f"{shown(name)}: {shown(value)}")
    print()
    print(shown_block(req["body"]))
    if req["truncated"]:
        print(f"[truncated: the first {req['kept_bytes']} of {req['body_bytes']} bytes are kept]")


def _no_deliveries_of(ctx, article_id: str) -> int:
    """An empty table would say "nothing went wrong" about a typo: say what is known instead."""
    article = ArticleStore.of(ctx).get(article_id)
    if article is None:
        print(f"no article {article_id!r} (never published here, or a typo)", file=sys.stderr)
        return 1
    partners = ", ".join(p.id for p in ctx.settings.partners) if ctx.settings.partners else "none configured"
    print(f"{article_id} v{article.version}: no deliveries (no partner's filters matched it, or they were "
          f"retired after the retention; partners: {partners})")
    return 0


def _delivery_table(title: str, recs: list[dict]):
    from datetime import datetime, timezone

    from rich.table import Table

    table = Table(title=title)
    for col in ("delivery", "partner", "article", "v", "type", "status", "attempts", "updated", "last error"):
        table.add_column(col)
    for r in recs:
        updated = datetime.fromtimestamp(r.get("updated_at", 0), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(r["id"], r["partner"], r["article_id"], str(r["version"]), r["event_type"], r["status"],
                      str(r.get("attempts", 0)), updated, (r.get("last_error") or str(r.get("last_status") or ""))[:40])
    return table


def cmd_deliveries_list(args) -> int:
    from rich.console import Console

    from syndication.delivery import records

    ctx = context()
    recs = records.for_partner(ctx, args.partner, state=args.state, since=parse_time(args.since), limit=args.limit)
    if not recs and ctx.settings.target(args.partner) is None and ctx.settings.partner(args.partner) is None:
        configured = ", ".join(p.id for p in ctx.settings.partners) or "none"
        print(f"no partner {args.partner!r}: not configured (partners: {configured}) and no deliveries on record",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(recs, indent=2))
    else:
        Console().print(_delivery_table(f"{args.partner}: {args.state or 'all'} deliveries", recs))
    return 0


def cmd_partners(args) -> int:
    from syndication.delivery import circuit, deadletters
    from syndication.ops import audit

    settings = settings_or_exit()
    if settings.target(args.partner) is None and settings.partner(args.partner) is None:
        where = (f"in {settings.partners_file} (partners: {', '.join(p.id for p in settings.partners) or 'none'})"
                 if settings.partners_file else "configured: SYNDICATION_PARTNERS_FILE is not set")
        print(f"no partner {args.partner!r} {where}", file=sys.stderr)
        return 2
    ctx = context()
    if args.action == "pause":
        circuit.pause(ctx, args.partner)
        print(f"{args.partner}: paused (deliveries queue up; nothing is attempted)")
    elif args.action == "resume":
        circuit.resume(ctx, args.partner)
        print(f"{args.partner}: resumed")
    else:
        n = deadletters.enable(ctx, args.partner)
        print(f"{args.partner}: enabled; {n} parked deliveries are due again")
    detail = {"count": n} if args.action == "enable" else {}
    audit.record(ctx, args.action, target=f"partner {args.partner}", actor=actor(), **detail)
    return 0


def cmd_events_dead(args) -> int:
    from syndication.pipeline.dead_events import dead_events

    dead = dead_events(context(), limit=args.limit)
    if args.json:
        print(json.dumps(dead, indent=2))
        return 0
    if not dead:
        print("no dead events")
    for d in dead:
        print(f"{d['event_id']}  {d['type']} {d['article_id']} v{d['version']}  "
              f"{d['failures']} failures  {d['last_error']}")
    return 0


def cmd_events_replay(args) -> int:
    from syndication.ops import audit
    from syndication.pipeline.dead_events import dead_events, replay_dead

    ctx = context()
    ids = args.ids or ([d["event_id"] for d in dead_events(ctx, limit=100_000)] if args.all else [])
    if not ids:
        print("give dead event ids, or --all", file=sys.stderr)
        return 2
    missing = [i for i in ids if not replay_dead(ctx, i)]
    target = "every dead event" if args.all and not args.ids else "events " + ", ".join(ids[:3]) + (
        f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    audit.record(ctx, "replay", target=target, actor=actor(), count=len(ids) - len(missing))
    print(f"replayed {len(ids) - len(missing)} dead events; the sweeper applies them within a second")
    for i in missing:
        print(f"not a dead event: {i}", file=sys.stderr)
    return 1 if missing else 0
