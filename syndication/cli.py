"""`syndication ...`: the composition root. Reads the environment, wires Redis and Celery.

    syndication up [--host H] [--port P]     API + workers (all queues) + beat, local, foreground
    syndication api [--host H] [--port P]    the API alone (uvicorn)
    syndication publish FILE...              POST event files to the API, print each outcome
    syndication config check                 validate settings, partners and feeds files
    syndication schema                       print the event JSON Schema
    syndication deliveries show ARTICLE_ID   every delivery of an article, with attempts

Exit codes: 0 ok, 1 failure (service unreachable, ...), 2 bad input (invalid
event file, invalid configuration, bad arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import ConfigError

LOCAL_DEV_KEY = "local-dev-key"
DATA_DIR = Path(os.environ.get("SYNDICATION_DATA_DIR", ".data"))


def _settings():
    from .settings import Settings

    try:
        return Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def build_api():
    """uvicorn factory: `uvicorn --factory syndication.cli:build_api`."""
    from .api.app import create_app

    settings = _settings()
    from workers.app import app as celery_app

    def enqueue_apply(event_id: str) -> None:
        celery_app.send_task("syndication.apply_event", args=[event_id], queue="events")

    return create_app(settings, enqueue_apply)


def cmd_api(args) -> int:
    import uvicorn

    settings = _settings()
    if not settings.api_keys:
        print("warning: SYNDICATION_API_KEYS is empty: every POST /v1/events will get 401", file=sys.stderr)
    uvicorn.run("syndication.cli:build_api", factory=True, host=args.host, port=args.port,
                log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    return 0


def cmd_up(args) -> int:
    from honcho.manager import Manager

    from . import localredis
    from .redis import connect, ping
    from .settings import DEFAULT_REDIS_URL

    env = dict(os.environ)
    redis_proc = None
    if not env.get("SYNDICATION_REDIS_URL"):
        if ping(connect(DEFAULT_REDIS_URL)):
            print(f"syndication: using the Redis answering at {DEFAULT_REDIS_URL}")
        else:
            redis_proc = localredis.start(DATA_DIR / "redis")
            print(f"syndication: no Redis configured or answering; started redis-server on 127.0.0.1:6379 "
                  f"with AOF in {DATA_DIR / 'redis'}")
    if not env.get("SYNDICATION_API_KEYS"):
        env["SYNDICATION_API_KEYS"] = LOCAL_DEV_KEY
        print(f"syndication: SYNDICATION_API_KEYS not set; local publisher key is {LOCAL_DEV_KEY!r}")
    os.environ.update(env)
    settings = _settings()
    _warn_redis_persistence(settings.redis_url)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    celery = f"{py} -m celery -A workers"
    common = "--without-gossip --without-mingle -E -l warning"
    manager = Manager()
    manager.add_process("api", f"{py} -m syndication.cli api --host {args.host} --port {args.port}", env=env)
    manager.add_process("events", f"{celery} worker -Q events -P threads -c 4 -n events@%h {common}", env=env)
    manager.add_process("feeds", f"{celery} worker -Q feeds -P threads -c 2 -n feeds@%h {common}", env=env)
    manager.add_process("deliveries",
                        f"{celery} worker -Q deliveries -P threads -c 8 -n deliveries@%h {common}", env=env)
    manager.add_process("beat", f"{celery} beat -l warning -s {DATA_DIR / 'beat-schedule'}", env=env)
    print(f"syndication: API on http://{args.host}:{args.port}  (feeds: /feeds, docs: /docs); Ctrl-C stops all")
    try:
        manager.loop()
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
    return 0 if manager.returncode in (0, 130, 143, None) else manager.returncode


def _warn_redis_persistence(url: str) -> None:
    from .redis import connect

    try:
        reply = connect(url).config_get("appendonly")
        aof = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
               for k, v in reply.items()}.get("appendonly")
    except Exception:  # CONFIG may be disabled on managed Redis; nothing to warn about then
        return
    if aof != "yes":
        print("syndication: warning: this Redis has AOF off (appendonly no); accepted events and "
              "scheduled retries may be lost if it restarts", file=sys.stderr)


def cmd_publish(args) -> int:
    import requests

    key = args.key or os.environ.get("SYNDICATION_API_KEY") or \
        (os.environ.get("SYNDICATION_API_KEYS") or LOCAL_DEV_KEY).split(",")[0].strip()
    url = args.url.rstrip("/") + "/v1/events"
    worst = 0
    session = requests.Session()
    for name in args.files:
        try:
            body = Path(name).read_bytes()
        except OSError as exc:
            print(f"{name}: cannot read: {exc.strerror}", file=sys.stderr)
            worst = max(worst, 2)
            continue
        try:
            resp = session.post(url, data=body, timeout=(3, 30), headers={
                "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        except requests.RequestException as exc:
            print(f"{name}: cannot reach {url}: {exc}", file=sys.stderr)
            return 1
        try:
            data = resp.json()
        except ValueError:
            data = {"detail": resp.text[:200]}
        if resp.status_code in (200, 202):
            note = "accepted" if resp.status_code == 202 else "already accepted (repeat)"
            print(f"{name}: {resp.status_code} {note} event_id={data.get('event_id')}")
        else:
            print(f"{name}: {resp.status_code} {data.get('detail', data)}", file=sys.stderr)
            worst = max(worst, 2 if 400 <= resp.status_code < 500 else 1)
    return worst


def cmd_config_check(args) -> int:
    settings = _settings()
    from .partners.registry import check_address
    from .errors import AddressRefused

    print(f"redis: {settings.redis_url} (prefix {settings.key_prefix!r})")
    print(f"base url: {settings.base_url}; websub hub: {settings.websub_hub or '-'}")
    print(f"publisher keys: {len(settings.api_keys)}; ops keys: {len(settings.ops_keys)}")
    print(f"feeds ({settings.feeds_file or 'built-in default'}): {', '.join(f.name for f in settings.feeds)}")
    problems = 0
    print(f"partners ({settings.partners_file or 'none configured'}):")
    for p in settings.partners:
        note = "ok"
        try:
            check_address(p)
        except AddressRefused as exc:
            note, problems = f"REFUSED: {exc}", problems + 1
        print(f"  {p.id}: {p.format} -> {p.url} [{p.auth.type}] {note}")
    if not settings.api_keys:
        print("warning: SYNDICATION_API_KEYS is empty")
    return 2 if problems else 0


def cmd_schema(args) -> int:
    from .events import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_deliveries_show(args) -> int:
    from .context import Context
    from .delivery import records

    ctx = Context.build(_settings())
    recs = records.for_article(ctx, args.article_id)
    if args.json:
        print(json.dumps([{**r, "attempt_log": records.attempts(ctx, r["id"])} for r in recs], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"deliveries of {args.article_id}")
    for col in ("delivery", "partner", "version", "type", "status", "attempt", "at", "http", "ms", "error"):
        table.add_column(col)
    from datetime import datetime, timezone

    for r in recs:
        tries = records.attempts(ctx, r["id"]) or [{}]
        for a in tries:
            at = datetime.fromtimestamp(a["at"], timezone.utc).strftime("%H:%M:%S") if a.get("at") else "-"
            table.add_row(r["id"], r["partner"], str(r["version"]), r["event_type"], r["status"],
                          str(a.get("n", "-")), at, str(a.get("status") or "-"),
                          str(a.get("latency_ms", "-")), (a.get("error") or "")[:40])
    Console().print(table)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="syndication", description="Event-driven news syndication.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, fn, hlp in (("up", cmd_up, "run API, workers and beat locally"), ("api", cmd_api, "run the API")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("--host", default="127.0.0.1")
        s.add_argument("--port", type=int, default=8000)
        s.set_defaults(fn=fn)
    s = sub.add_parser("publish", help="POST event files to the API")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--url", default=os.environ.get("SYNDICATION_API_URL", "http://127.0.0.1:8000"))
    s.add_argument("--key", help="publisher key (default: first of SYNDICATION_API_KEYS)")
    s.set_defaults(fn=cmd_publish)
    cfg = sub.add_parser("config", help="configuration").add_subparsers(dest="sub", required=True)
    cfg.add_parser("check", help="validate settings, partners and feeds").set_defaults(fn=cmd_config_check)
    sub.add_parser("schema", help="print the event JSON Schema").set_defaults(fn=cmd_schema)
    dl = sub.add_parser("deliveries", help="delivery history and repair").add_subparsers(dest="sub", required=True)
    s = dl.add_parser("show", help="every delivery and attempt of an article")
    s.add_argument("article_id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_deliveries_show)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
