"""`syndication up` (everything, locally, one process group) and `syndication api`."""

from __future__ import annotations

import os
import sys

from syndication.cli.common import LOCAL_DEV_KEY, data_dir, settings_or_exit

API_MAX_CONNECTIONS = 1000  # open connections per API process; past it uvicorn answers 503


def cmd_api(args) -> int:
    import uvicorn

    settings = settings_or_exit()
    if not settings.api_keys:
        print("warning: SYNDICATION_API_KEYS is empty: every POST /v1/events will get 401", file=sys.stderr)
    from syndication.infra.logs import configure

    configure(args.log_level)
    # Slow or greedy clients: bounded connections (503 past the limit), idle keep-alives closed
    # after 5 s, headers capped at 16 KiB. uvicorn has no header-read timeout: in production a
    # reverse proxy must bound it (README, "Security model").
    uvicorn.run("syndication.cli:build_api", factory=True, host=args.host, port=args.port, log_config=None,
                log_level="warning", access_log=False, timeout_graceful_shutdown=5,
                limit_concurrency=API_MAX_CONNECTIONS, timeout_keep_alive=5,
                h11_max_incomplete_event_size=16 * 1024,
                # X-Forwarded-For decides who gets throttled: trust it only from proxies named in
                # FORWARDED_ALLOW_IPS, never by default (uvicorn would trust any local process).
                proxy_headers=bool(os.environ.get("FORWARDED_ALLOW_IPS")),
                forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS") or None)
    return 0


def cmd_up(args) -> int:
    from honcho.manager import Manager

    from syndication.infra import localredis
    from syndication.infra.redis_client import connect, ping
    from syndication.settings import DEFAULT_REDIS_URL

    env = dict(os.environ)
    redis_proc = None
    if not env.get("SYNDICATION_REDIS_URL"):
        if ping(connect(DEFAULT_REDIS_URL)):
            print(f"syndication: using the Redis answering at {DEFAULT_REDIS_URL}")
        else:
            redis_proc = localredis.start(data_dir() / "redis")
            print(f"syndication: no Redis configured or answering; started redis-server on 127.0.0.1:6379 "
                  f"with AOF in {data_dir() / 'redis'}")
    if not env.get("SYNDICATION_API_KEYS"):
        env["SYNDICATION_API_KEYS"] = LOCAL_DEV_KEY
        print(f"syndication: SYNDICATION_API_KEYS not set; local publisher key is {LOCAL_DEV_KEY!r}")
    os.environ.update(env)
    settings = settings_or_exit()
    _warn_redis_persistence(settings.redis_url)
    data_dir().mkdir(parents=True, exist_ok=True)
    py = sys.executable
    celery = f"{py} -m celery -A workers"
    level = args.log_level.upper()
    env["SYNDICATION_LOG_LEVEL"] = level
    common = f"--without-gossip --without-mingle -E -l {level.lower()}"
    manager = Manager()
    manager.add_process("api", f"{py} -m syndication.cli api --host {args.host} --port {args.port} --log-level {level}", env=env)
    from syndication.cli.topology import worker_specs

    for spec in worker_specs(env):
        manager.add_process(spec.name, " ".join([celery, "worker", *spec.args(), common]), env=env)
    _reload_on_sighup(settings)
    print(f"syndication: API on http://{args.host}:{args.port}  (feeds: /feeds, docs: /docs); Ctrl-C stops all")
    try:
        manager.loop()
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
    return 0 if manager.returncode in (0, 130, 143, None) else manager.returncode


def _reload_on_sighup(settings) -> None:
    """SIGHUP to `up` reloads the partners file in every process (ops/reload.py), as it does for
    any of them; without this it would end `up` and orphan its children."""
    import signal
    import threading

    def handler(signum, frame):
        def run():
            from syndication.errors import ConfigError
            from syndication.infra.context import Context
            from syndication.ops import reload

            try:
                change = reload.request(Context.build(settings), os.environ, actor="SIGHUP up")
                print(f"syndication: partners file reloaded: {change.summary()}")
            except ConfigError as exc:
                print(f"syndication: partners file rejected, the running configuration stays: {exc}",
                      file=sys.stderr)
        threading.Thread(target=run, name="reload", daemon=True).start()

    signal.signal(signal.SIGHUP, handler)


def _warn_redis_persistence(url: str) -> None:
    from syndication.infra.redis_client import connect

    try:
        reply = connect(url).config_get("appendonly")
        aof = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
               for k, v in reply.items()}.get("appendonly")
    except Exception:  # CONFIG may be disabled on managed Redis; nothing to warn about then
        return
    if aof != "yes":
        print("syndication: warning: this Redis has AOF off (appendonly no); accepted events and "
              "scheduled retries may be lost if it restarts", file=sys.stderr)


