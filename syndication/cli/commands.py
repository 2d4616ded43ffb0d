"""The argparse tree of `syndication`: one function per command group, in --help order.

    p = parser()                 # cli/__init__.py main() parses with it
    p.parse_args(["status", "--json"]).fn(args)

Each `add_*` adds one command (or group of subcommands) to the top-level subparsers and sets
`fn`, the cmd_* function that runs it; the commands themselves live in the modules they import.
"""

from __future__ import annotations

import argparse
import os

from syndication.cli import keys, options
from syndication.cli.backfill import cmd_partners_backfill
from syndication.cli.common import LOCAL_DEV_KEY
from syndication.cli.dead_letters import cmd_deliveries_discard, cmd_deliveries_replay
from syndication.cli.partners_reload import DEFAULT_TIMEOUT, cmd_partners_reload, timeout_arg
from syndication.cli.publish import cmd_publish
from syndication.cli.receiver import cmd_receiver
from syndication.cli.repair import (cmd_config_check, cmd_deliveries_list, cmd_deliveries_show, cmd_events_dead,
                                    cmd_events_replay, cmd_partners, cmd_schema)
from syndication.cli.reset import cmd_reset
from syndication.cli.run import cmd_api, cmd_up
from syndication.cli.status_view import cmd_status
from syndication.cli.websub import add_websub


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="syndication", description="Event-driven news syndication.")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (add_run, add_publish, add_config, add_deliveries, add_events, add_status, add_partners,
                keys.add_keys, add_websub, add_receiver, add_reset):
        add(sub)
    return p


def add_run(sub) -> None:
    """`up` and `api`: the service itself, in the foreground."""
    for name, fn, hlp in (("up", cmd_up, "run the API and every worker locally"), ("api", cmd_api, "run the API")):
        s = sub.add_parser(name, help=hlp, description=hlp + (
            ": starts its own Redis if SYNDICATION_REDIS_URL is unset and none answers on 127.0.0.1:6379; "
            "Ctrl-C or SIGTERM stops every process it started" if name == "up" else ""))
        s.add_argument("--host", default="127.0.0.1", help="address the API listens on (default: 127.0.0.1)")
        s.add_argument("--port", type=int, default=8000, help="port the API listens on (default: 8000)")
        s.add_argument("--log-level", default=os.environ.get("SYNDICATION_LOG_LEVEL", "INFO"), type=str.upper,
                       choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                       help="INFO (default): every delivery outcome and ops action; WARNING: retries and worse")
        if name == "up":
            s.add_argument("-v", "--verbose", action="store_true",
                           help="every process's full output (Celery banners, start-up logs); default: one "
                                "ready line per process, then our logs and every warning")
        s.set_defaults(fn=fn)


def add_publish(sub) -> None:
    """`publish`: event files to the API."""
    s = sub.add_parser("publish", help="POST event files to the API")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--url", default=os.environ.get("SYNDICATION_API_URL", "http://127.0.0.1:8000"),
                   help="the API (default: $SYNDICATION_API_URL, else http://127.0.0.1:8000)")
    s.add_argument("--key", help="publisher key (default: $SYNDICATION_API_KEY, else the first of "
                                 f"$SYNDICATION_API_KEYS, else {LOCAL_DEV_KEY!r})")
    s.set_defaults(fn=cmd_publish)


def add_config(sub) -> None:
    """`config check`, and `schema`."""
    cfg = sub.add_parser("config", help="configuration").add_subparsers(dest="sub", required=True)
    s = cfg.add_parser("check", help="ping Redis; validate settings, partners and feeds")
    s.add_argument("--offline", action="store_true", help="do not ping Redis (check the files only, e.g. in CI)")
    s.set_defaults(fn=cmd_config_check)
    sub.add_parser("schema", help="print the event JSON Schema").set_defaults(fn=cmd_schema)


def add_deliveries(sub) -> None:
    """`deliveries show | list | replay | discard`: delivery history and repair."""
    dl = sub.add_parser("deliveries", help="delivery history and repair").add_subparsers(dest="sub", required=True)
    s = dl.add_parser("show", help="every delivery and attempt of an article")
    s.add_argument("article_id")
    s.add_argument("--json", action="store_true", help="records, attempts and each last request, as JSON")
    s.add_argument("--request", action="store_true",
                   help="also print the exact headers (credentials masked) and body each delivery's last attempt sent")
    s.set_defaults(fn=cmd_deliveries_show)
    s = dl.add_parser("list", help="a partner's deliveries")
    s.add_argument("--partner", required=True)
    s.add_argument("--state", choices=["pending", "retrying", "delivered", "dead", "parked", "superseded",
                                       "cancelled", "discarded"])
    s.add_argument("--since", help="30m, 2h, 1d or an RFC 3339 time with its zone")
    s.add_argument("--limit", type=options.count("--limit", 1, 10_000), default=100,
                   help="at most this many (default: 100)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_deliveries_list)
    s = dl.add_parser("replay", help="send deliveries again (same ids): by id, partner, time range")
    s.add_argument("ids", nargs="*", metavar="DELIVERY_ID")
    s.add_argument("--partner", help="every dead letter of this partner")
    s.add_argument("--since", help="dead letters since (30m, 2h, 1d or RFC 3339 with its zone)")
    s.add_argument("--until", help="dead letters until")
    s.add_argument("--all", action="store_true", help="every dead letter")
    s.add_argument("--dry-run", action="store_true", help="print what would be replayed or skipped; change nothing")
    s.add_argument("--wait", type=options.seconds("--wait", 0, 86400), nargs="?", const=60.0, metavar="SECONDS",
                   help="follow each replayed delivery until it lands or fails again (default 60 s); "
                        "exit 1 if any did not land")
    s.set_defaults(fn=cmd_deliveries_replay)
    s = dl.add_parser("discard", help="give up on dead letters: by id, partner, or all")
    s.add_argument("ids", nargs="*", metavar="DELIVERY_ID")
    s.add_argument("--partner", help="every dead letter of this partner")
    s.add_argument("--all", action="store_true", help="every dead letter")
    s.add_argument("--dry-run", action="store_true", help="print what would be discarded or skipped; change nothing")
    s.set_defaults(fn=cmd_deliveries_discard)


def add_events(sub) -> None:
    """`events dead | replay`: events that failed to apply."""
    ev = sub.add_parser("events", help="dead events: list and replay").add_subparsers(dest="sub", required=True)
    s = ev.add_parser("dead", help="events parked after failing to apply, with their error")
    s.add_argument("--limit", type=options.count("--limit", 1, 100_000), default=100,
                   help="at most this many (default: 100)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_events_dead)
    s = ev.add_parser("replay", help="put dead events back in line (after a fix)")
    s.add_argument("ids", nargs="*", metavar="EVENT_ID")
    s.add_argument("--all", action="store_true", help="every dead event")
    s.set_defaults(fn=cmd_events_replay)


def add_status(sub) -> None:
    """`status`: the one-screen (or --json, --check) view."""
    s = sub.add_parser("status", help="queues, workers, partners, retries, dead letters")
    s.add_argument("--json", action="store_true", help="machine-readable")
    s.add_argument("--watch", type=options.seconds("--watch", 0.1, 3600), nargs="?", const=2.0, metavar="SECONDS",
                   help="refresh every SECONDS (default: 2)")
    s.add_argument("--check", action="store_true",
                   help="one line, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (monitoring plugins)")
    s.set_defaults(fn=cmd_status)


def add_partners(sub) -> None:
    """`partners pause | resume | enable | reload | backfill | show`."""
    pt = sub.add_parser("partners", help="pause, resume, re-enable a partner; reload the partners file") \
        .add_subparsers(dest="sub", required=True)
    for action, hlp in (("pause", "stop sending to it: deliveries wait in Redis, nothing is attempted"),
                        ("resume", "undo pause: waiting deliveries go out"),
                        ("enable", "re-enable a partner a 410 Gone disabled: its parked deliveries become due")):
        s = pt.add_parser(action, help=hlp)
        s.add_argument("partner")
        s.set_defaults(fn=cmd_partners, action=action)
    s = pt.add_parser("reload", help="every process re-reads its partners file (waits until every worker and API "
                      "process did; invalid, missing or emptied: refused whole)")
    s.add_argument("--allow-empty", action="store_true",
                   help="allow a file that leaves no enabled partner (cancels every partner's pending deliveries)")
    s.add_argument("--timeout", type=timeout_arg, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"how long to wait for every process to apply it (default: {DEFAULT_TIMEOUT:g})")
    s.set_defaults(fn=cmd_partners_reload)
    s = pt.add_parser("backfill", help="send a partner the current version of matching articles it never had")
    s.add_argument("partner")
    s.add_argument("--last", type=options.count("--last", 1, 10_000), metavar="N",
                   help="the N newest matching articles (1..10000)")
    s.add_argument("--since", metavar="TIME", help="every matching article published since (30m, 2h, 1d or RFC 3339)")
    s.add_argument("--force", action="store_true",
                   help="make versions the partner already has a delivery of due again (same delivery ids)")
    s.add_argument("--dry-run", action="store_true", help="count what would be created; change nothing")
    s.set_defaults(fn=cmd_partners_backfill)
    keys.add_partners_show(pt)


def add_receiver(sub) -> None:
    """`receiver`: a partner-side endpoint to test an integration with."""
    s = sub.add_parser(
        "receiver", help="a partner-side endpoint to test an integration: verifies and prints each push",
        description="A partner-side receiver to test an integration with: point a partner's url at it "
                    "(http://HOST:PORT/any/path; the partner needs allow_private_network: true for a "
                    "loopback address), publish, and watch one line per push: time, article id, version, "
                    "format, signature ok|BAD|unchecked, new|duplicate (deduplicated by webhook-id). "
                    "A bad signature is answered 401, everything else 200.")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    s.add_argument("--port", type=int, default=8010, help="port to listen on (default: 8010)")
    s.add_argument("--secret-env", metavar="NAME",
                   help="environment variable holding the partner's whsec_ secret (several, space-separated, "
                        "while rotating); without it (or --public-key-env) signatures are not checked")
    s.add_argument("--public-key-env", metavar="NAME",
                   help="environment variable holding the partner's whpk_ Ed25519 public key(s), to verify "
                        "v1a signatures (`syndication partners show P` prints them)")
    s.add_argument("--websub", action="store_true",
                   help="be a WebSub subscriber instead: answer the hub's verification GET by echoing hub.challenge, "
                        "print one line per feed POSTed (checking X-Hub-Signature with --hub-secret-env)")
    s.add_argument("--hub-secret-env", metavar="NAME",
                   help="with --websub: environment variable holding the hub.secret you subscribed with")
    s.set_defaults(fn=cmd_receiver)


def add_reset(sub) -> None:
    """`reset`: start over."""
    s = sub.add_parser(
        "reset", help="start over: delete every key under this deployment's prefix (asks first)",
        description="Delete every key under SYNDICATION_KEY_PREFIX (default synd:) in SYNDICATION_REDIS_URL "
                    "(default redis://127.0.0.1:6379/0): articles, feeds, deliveries, accepted event ids, "
                    "Celery's queues. Other prefixes stay. Restart a running `syndication up` afterwards. "
                    "Exit 0 done, 1 Redis unreachable, 2 refused or not confirmed.")
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.add_argument("--force", action="store_true", help="allow a Redis that is not local (127.0.0.1, ::1, "
                                                         "localhost, unix socket)")
    s.set_defaults(fn=cmd_reset)
