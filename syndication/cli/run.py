"""`syndication up` (everything, locally, in the foreground) and `syndication api`.

`up` checks what it can before starting anything (the port is free, the configured Redis
answers: one line and exit 1 otherwise), starts its own Redis when none is configured or
answering, and hands the processes to the supervisor (supervise.py), which owns them from
then on: one ready line each, "API on ..." once the API answers on its port.
"""

from __future__ import annotations

import os
import sys

from syndication.cli.common import LOCAL_DEV_KEY, data_dir, redis_unreachable, require_redis, settings_or_exit
from syndication.cli.supervise import die_with_parent

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
    """Exit 0 after Ctrl-C/SIGTERM or a closed stdout, 1 when something could not start or a
    process died on its own (everything else started is stopped first)."""
    import signal

    from syndication.cli.supervise import Supervisor
    from syndication.cli.topology import worker_specs
    from syndication.infra import localredis
    from syndication.settings import DEFAULT_REDIS_URL

    # Until the supervisor takes over, SIGTERM unwinds through `finally` (our redis-server stops).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    _port_free_or_exit(args.host, args.port)
    env = dict(os.environ)
    redis_proc = supervisor = None
    try:
        if env.get("SYNDICATION_REDIS_URL"):
            require_redis(env["SYNDICATION_REDIS_URL"])
        elif redis_unreachable(DEFAULT_REDIS_URL) is None:
            say(f"using the Redis answering at {DEFAULT_REDIS_URL}")
        else:
            # Its own process group: a Ctrl-C reaches `up`, which stops the workers before their Redis.
            redis_proc = localredis.start(data_dir() / "redis", popen_options={
                "process_group": 0, "preexec_fn": die_with_parent()})
            say(f"no Redis configured or answering; started redis-server on 127.0.0.1:6379 "
                f"with AOF in {data_dir() / 'redis'}")
        if not env.get("SYNDICATION_API_KEYS"):
            env["SYNDICATION_API_KEYS"] = LOCAL_DEV_KEY
            say(f"SYNDICATION_API_KEYS not set; local publisher key is {LOCAL_DEV_KEY!r}")
        extra = _local_demo(env)
        os.environ.update(env)
        settings = settings_or_exit()
        _warn_redis_persistence(settings)
        data_dir().mkdir(parents=True, exist_ok=True)
        level = args.log_level.upper()
        env["SYNDICATION_LOG_LEVEL"] = level
        verbose = getattr(args, "verbose", False)
        supervisor = Supervisor(verbose=verbose)
        supervisor.add("api", [sys.executable, "-m", "syndication.cli", "api", "--host", args.host,
                               "--port", str(args.port), "--log-level", level], env)
        celery = [sys.executable, "-m", "celery", "-A", "workers"] + ([] if verbose else ["--quiet"])
        specs = {spec.name: spec for spec in worker_specs(env)}
        for spec in specs.values():
            supervisor.add(spec.name, [*celery, "worker", *spec.args(), "--without-gossip", "--without-mingle",
                                       "-E", "-l", level.lower()], env)
        for name, argv in extra:
            supervisor.add(name, argv, env, ready_on_output=True)
        _reload_on_sighup(settings)
        base = _base_url(args.host, args.port)
        probe = _readiness(settings, base, specs)
        return supervisor.run(ready=probe, on_ready=lambda: supervisor.say(
            f"API on {base}  (feeds: /feeds, docs: /docs, ops: /ops); Ctrl-C stops all"))
    finally:
        if supervisor is not None:
            supervisor.close()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)


def say(text: str) -> None:
    print(f"syndication: {text}", flush=True)


def _local_demo(env: dict) -> list[tuple[str, list[str]]]:
    """Local defaults (demo partner and receiver, local ops and feed keys, example feeds) from
    cli/demo.py; the extra processes to run. Says which keys it made up."""
    try:
        from syndication.cli import demo
    except ImportError:  # HOOK (issue 16, part A): demo.local_env / demo.processes, once on main
        return []
    made = demo.local_env(env)
    for var, what, use in (("SYNDICATION_OPS_KEYS", "ops", "/ops, deliveries API"),
                           ("SYNDICATION_FEED_KEYS", "feed", "private feeds")):
        if var in made:
            key = made[var].split(",")[0].rpartition(":")[2]  # ops keys may be named: name:key
            say(f"{var} not set; local {what} key is {key!r} ({use})")
    if made.get("SYNDICATION_WEBSUB_ALLOW_PRIVATE_CALLBACKS"):
        say("SYNDICATION_WEBSUB_ALLOW_PRIVATE_CALLBACKS not set; the local demo lets WebSub subscribers call back "
            "on 127.0.0.1 (a deployment refuses private callbacks)")
    if "SYNDICATION_PARTNERS_FILE" in made:
        say(f"no partners file: using the demo one ({os.path.relpath(made['SYNDICATION_PARTNERS_FILE'])}), "
            f"which pushes to the receiver below")
    return demo.processes(env)


def _port_free_or_exit(host: str, port: int) -> None:
    """A busy port is one plain line before anything starts, not a uvicorn traceback among banners."""
    import errno
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            hint = "; is another `syndication up` running? choose a port with --port" \
                if exc.errno == errno.EADDRINUSE else ""
            raise SystemExit(f"syndication: cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _readiness(settings, base: str, specs: dict):
    """The probe the supervisor calls: the API is ready when /healthz answers on its port (so
    "API on ..." is never said before the port is bound); a worker when its heartbeat (written
    once it consumes, ops/heartbeats.py) carries its pid."""
    import urllib.request

    from redis import RedisError

    from syndication.infra.context import Context
    from syndication.ops.heartbeats import roster

    ctx = Context.build(settings)
    local = base.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:")

    def probe(waiting) -> dict[str, str]:
        ready = {}
        if any(c.name == "api" for c in waiting):
            try:
                with urllib.request.urlopen(f"{local}/healthz", timeout=1) as reply:
                    if reply.status == 200:
                        ready["api"] = f"api ready on {base}"
            except OSError:
                pass
        workers = [c for c in waiting if c.name in specs]
        if workers:
            try:
                online = {w.get("pid") for w in roster(ctx) if w["online"]}
            except RedisError:
                online = set()
            for child in workers:
                if child.popen.pid in online:
                    spec = specs[child.name]
                    ready[child.name] = f"{child.name} worker ready ({spec.pool} x{spec.concurrency})"
        return ready

    return probe


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
                change = reload.request(Context.build(settings), actor="SIGHUP up")
                print("syndication: partners reload requested (each process applies its own file): "
                      f"{change.summary()}")
            except ConfigError as exc:
                print(f"syndication: partners file rejected, the running configuration stays: {exc}",
                      file=sys.stderr)
        threading.Thread(target=run, name="reload", daemon=True).start()

    signal.signal(signal.SIGHUP, handler)


def _warn_redis_persistence(settings) -> None:
    from syndication.infra.redis_client import connect_settings

    try:
        reply = connect_settings(settings).config_get("appendonly")
        aof = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
               for k, v in reply.items()}.get("appendonly")
    except Exception:  # CONFIG may be disabled on managed Redis; nothing to warn about then
        return
    if aof != "yes":
        print("syndication: warning: this Redis has AOF off (appendonly no); accepted events and "
              "scheduled retries may be lost if it restarts", file=sys.stderr)


