"""Child processes of a benchmark run, and stopping every one of them.

Owns: free ports; `Proc`, one child in its own process group logging to a file; `Processes`, all
the children of a run, stopped in reverse order exactly once; a throwaway redis-server on a free
port (AOF everysec, as production, unless told otherwise); the service's processes as `syndication up`
runs them (API, the Celery workers of syndication.cli.topology.worker_specs) and their environment; the API with static-bytes baseline
paths in front (static_baseline.py); and `run_guarded`, the one runner that stops everything it started, also on Ctrl-C,
SIGTERM or an error, and keeps the logs only when there is something to debug.
"""

from __future__ import annotations

import atexit
import http.client
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from benchmarks.harness import API_KEY, HOST, ROOT, BenchError

WORKER_FLAGS = ["--without-gossip", "--without-mingle", "-E"]  # what `syndication up` adds to every worker


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Proc:
    """A child process in its own session (process group), logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict, logdir: Path):
        self.name, self.argv, self.env = name, argv, env
        self.log = logdir / f"{name}.log"
        self.p: subprocess.Popen | None = None

    def start(self) -> "Proc":
        with open(self.log, "ab") as fh:
            # Its own session: stopping it signals its whole group (Celery's pool threads, uvicorn).
            self.p = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        if self.p.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.p.returncode}; last lines of {self.log}:\n{self.tail()}")
        return True

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:]) if self.log.exists() else ""

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alive() and predicate():
                return
            time.sleep(0.05)
        raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}; last lines of {self.log}:\n{self.tail()}")

    def wait_log(self, text: str, timeout: float = 60.0) -> "Proc":
        self.wait_for(lambda: text.encode() in self.log.read_bytes(), timeout, f"{self.name}: {text!r} in its log")
        return self

    def stop(self, timeout: float = 8.0) -> None:
        if not self.p or self.p.poll() is not None:
            return
        try:
            os.killpg(self.p.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait(5)


class Processes:
    """Every process this run started; stopped in reverse order, exactly once."""

    def __init__(self):
        self.procs: list[Proc] = []
        self._lock = threading.Lock()  # the atexit hook and the main thread may both stop them

    def start(self, proc: Proc) -> Proc:
        with self._lock:
            self.procs.append(proc)
        return proc.start()

    def stop(self, procs) -> None:
        """Stop some of them now (in reverse order) and forget them."""
        procs = list(procs)
        with self._lock:
            self.procs = [p for p in self.procs if p not in procs]
        self._stop_each(procs)

    def stop_all(self) -> None:
        with self._lock:
            procs, self.procs = self.procs, []
        self._stop_each(procs)

    @staticmethod
    def _stop_each(procs: list[Proc]) -> None:
        for proc in reversed(procs):
            try:
                proc.stop()
            except Exception as exc:  # keep stopping the others
                print(f"warning: could not stop {proc.name}: {exc}", file=sys.stderr)


# --------------------------------------------------------------------------- redis-server


def require_redis_server() -> str:
    binary = shutil.which("redis-server")
    if not binary:
        raise BenchError("redis-server is not installed or not on PATH: install it with "
                         "`apt-get install -y redis-server` (the benchmark starts its own throwaway instance "
                         "on a free port; it never uses a running Redis)")
    return binary


def start_redis(procs: Processes, logdir: Path, aof: bool = True) -> tuple[str, Proc]:
    """A throwaway redis-server on a free port (never 6379), its data in `logdir`.

    With `aof` (the default) persistence is as production runs it (`appendonly yes`,
    `appendfsync everysec`: README, "Guarantees"), so that its cost is inside the measured figures;
    `aof=False` turns persistence off, for comparison only.
    """
    binary = require_redis_server()
    persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if aof else ["--appendonly", "no"]
    for _ in range(5):
        port = free_port()
        if port == 6379:  # never the port a real Redis may use
            continue
        argv = [binary, "--port", str(port), "--bind", HOST, "--save", "", *persistence, "--dir", str(logdir),
                "--protected-mode", "yes", "--daemonize", "no"]
        proc = procs.start(Proc("redis", argv, dict(os.environ), logdir))
        try:
            proc.wait_log("Ready to accept connections", timeout=15)
            return f"redis://{HOST}:{port}/0", proc
        except BenchError:
            if proc.p.poll() is None:
                raise
            continue  # lost the port race; try another
    raise BenchError("could not start redis-server on a free port")


# --------------------------------------------------------------------------- the service


def service_env(redis_url: str, api_port: int, key_prefix: str, extra: dict[str, str]) -> dict:
    """The service's environment: this run's Redis and keys only, nothing inherited from the shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
    env.update({
        "SYNDICATION_REDIS_URL": redis_url,
        "SYNDICATION_KEY_PREFIX": key_prefix,
        "SYNDICATION_API_KEYS": API_KEY,
        "SYNDICATION_BASE_URL": f"http://{HOST}:{api_port}",
        **extra,
        "PYTHONUNBUFFERED": "1",
    })
    return env


def service_context(env: dict):
    """A Context on the run's Redis, to read the keys the service writes.

    The one place the harness imports syndication internals; the scripts import only what they
    measure directly (renderers, push formats) or need to seed.
    """
    from syndication.infra.context import Context
    from syndication.configuration import load_settings

    return Context.build(load_settings(env))


def api_proc(env: dict, port: int, logdir: Path, name: str = "api") -> Proc:
    argv = [sys.executable, "-m", "syndication.cli", "api", "--host", HOST, "--port", str(port)]
    return Proc(name, argv, env, logdir)


def api_static_baseline_proc(env: dict, port: int, logdir: Path, static: dict[str, str],
                             name: str = "api") -> Proc:
    """The API as api_proc runs it, with static-bytes paths in front (harness/static_baseline.py).

    `static` maps each static path to the path whose recorded answer it replays.
    """
    opts = [f"--static={path}={source}" for path, source in static.items()]
    argv = [sys.executable, "-m", "benchmarks.harness.static_baseline", *opts, "api", "--host", HOST,
            "--port", str(port)]
    return Proc(name, argv, env, logdir)


def worker_specs(env: dict) -> list:
    """The service's Celery workers for this environment, from the one place `syndication up` reads them
    (syndication.cli.topology.worker_specs: name, queue, pool, concurrency; several deliveries processes)."""
    from syndication.cli.topology import worker_specs as specs

    return specs(env)


def spec_proc(spec, env: dict, logdir: Path, *, tag: str = "", loglevel: str = "warning") -> Proc:
    """One worker exactly as `syndication up` starts it: `celery -A workers worker <spec.args()>
    --without-gossip --without-mingle -E -l warning` (-E: tasks.TaskCounter counts its tasks)."""
    argv = [sys.executable, "-m", "celery", "-A", "workers", "worker", *spec.args(), *WORKER_FLAGS, "-l", loglevel]
    return Proc(f"{tag}{spec.name}", argv, env, logdir)


def pool_of(spec) -> str:
    """How a spec's pool reads in a report: `threads x4`."""
    return f"{spec.pool} x{spec.concurrency}"


def commands(procs) -> list[str]:
    """How each process was started, as printed in the report (`python` for this interpreter)."""
    return [shlex.join(["python", *p.argv[1:]]) for p in procs]


def http_ok(port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def wait_api(api: Proc, port: int, timeout: float) -> None:
    api.wait_for(lambda: http_ok(port, "/healthz"), timeout, "the API to answer /healthz")


# --------------------------------------------------------------------------- running a benchmark


def guarded(body: Callable[[], int], procs: Processes, logdir: Path, keep_logs: bool) -> int:
    """Run a benchmark's body; always stop what it started; keep the logs only when it failed."""
    ok = False
    try:
        code = body()
        ok = True
        return code
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        ok = True  # nothing to debug: drop the logs unless --keep-logs
        return 130
    finally:
        procs.stop_all()
        if ok and not keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            print(f"logs: {logdir}", file=sys.stderr)


def run_guarded(logdir_prefix: str, keep_logs: bool, body: Callable[[Processes, Path], int]) -> int:
    """Check for redis-server, then run body(procs, logdir) under guarded(); 2 if it cannot start."""
    try:
        require_redis_server()
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    procs = Processes()
    atexit.register(procs.stop_all)  # even if the body escapes guarded() (sys.exit in a thread, ...)

    def on_signal(signum, frame):
        raise KeyboardInterrupt  # SIGTERM cleans up exactly as Ctrl-C does

    signal.signal(signal.SIGTERM, on_signal)
    logdir = Path(tempfile.mkdtemp(prefix=logdir_prefix))
    return guarded(lambda: body(procs, logdir), procs, logdir, keep_logs)
