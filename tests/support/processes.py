"""Starting the service's real processes for tests: API (uvicorn), Celery workers.

Each runs as its own OS process with the environment a deployment would
give it, logging to a file under the test's tmp dir. `kill()` sends SIGKILL
to the whole process group (main process and pool), as a crash would.

Every log a Proc writes is registered in `LOGS` when the process starts, so
the log scan (tests/support/logscan.py) reads what each test added to it.
`NetNS` runs calls inside another process's network namespace (`syndication
up` is tested inside `unshare -n`, where 127.0.0.1:6379 is nobody's Redis).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"
# Every process log, with the offset it had when its process first started here (logscan reads on).
LOGS: dict[Path, int] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict, logdir: Path, ready: str | None = None,
                 url: str | None = None):
        self.name, self.argv, self.env, self.ready, self.url = name, argv, env, ready, url
        self.log = logdir / f"{name}.log"
        self.p: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "Proc":
        return self.launch().wait_ready(timeout)

    def launch(self) -> "Proc":
        """Start the process and return at once (`wait_ready` waits for it to say it is ready)."""
        self._offset = self.log.stat().st_size if self.log.exists() else 0
        LOGS.setdefault(self.log, self._offset)
        with open(self.log, "ab") as fh:
            self.p = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 30.0) -> "Proc":
        if self.ready:
            wait_for(lambda: self._alive() and self.ready.encode() in self.log.read_bytes()[self._offset:],
                     timeout, 0.05, f"{self.name} ready")
        if self.url:
            wait_for(lambda: self._alive() and self._answers(), timeout, 0.05, f"{self.name} answering")
        return self

    def _alive(self) -> bool:
        if self.p.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.p.returncode}:\n{self.tail()}")
        return True

    def _answers(self) -> bool:
        try:
            return requests.get(self.url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:]) if self.log.exists() else ""

    def kill(self) -> None:
        if self.p and self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.p and self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


def start_all(procs, timeout: float = 60.0) -> None:
    """Start every process at once, then wait for each to be ready: cold starts (Python, Celery,
    the app's imports) overlap instead of queueing, ~2-3 s each. None of them may need another
    ready first (the Redis they share is started before them). The deadline is the whole set's."""
    procs = list(procs)
    for p in procs:
        p.launch()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.wait_ready(max(1.0, deadline - time.monotonic()))


def stop_all(procs, timeout: float = 10.0) -> None:
    """SIGTERM every process at once, then wait for each: their warm shutdowns (a Celery worker
    finishing its tasks, seconds) overlap. What still runs at the deadline is killed. Stop a
    Redis they use after them, not among them (they would log its loss on the way out)."""
    procs = [p for p in procs if p.p and p.p.poll() is None]
    for p in procs:
        try:
            os.killpg(p.p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


@contextmanager
def running(procs: list["Proc"], receivers=()):
    """Start `procs` at once (start_all); on leaving, stop them at once (stop_all), then the partner servers `receivers`."""
    try:
        start_all(procs)
        yield procs
    finally:
        stop_all(procs)
        for r in receivers:
            r.stop()


def worker(queue: str, env: dict, logdir: Path, pool: str = "threads", concurrency: int = 4) -> Proc:
    argv = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queue, "-P", pool,
            "-c", str(concurrency), "-n", f"{queue}-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
            "-E", "-l", "info"]
    return Proc(f"worker-{queue}", argv, env, logdir, ready=" ready.")


def api(env: dict, logdir: Path, port: int) -> Proc:
    argv = [sys.executable, "-m", "syndication.cli", "api", "--host", "127.0.0.1", "--port", str(port)]
    return Proc("api", argv, env, logdir, url=f"http://127.0.0.1:{port}/healthz")


def private_env(redis_url: str, port: int, partners_file: Path, tag: str, *, feeds_file: Path | None = None,
                **extra: str) -> dict:
    """The environment of a test's own service (API on `port`, its own key prefix), nothing of the
    caller's SYNDICATION_* settings; without `feeds_file`, one feed `all` is written beside the
    partners file. `extra` adds or overrides variables (keys, retention, ...)."""
    import uuid

    import yaml

    if feeds_file is None:
        feeds_file = partners_file.with_name("feeds.yaml")
        feeds_file.write_text(yaml.safe_dump({"feeds": [{"name": "all", "title": "All news"}]}))
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
        "SYNDICATION_REDIS_URL": redis_url,
        "SYNDICATION_KEY_PREFIX": f"{tag}{uuid.uuid4().hex[:6]}:",
        "SYNDICATION_PARTNERS_FILE": str(partners_file),
        "SYNDICATION_FEEDS_FILE": str(feeds_file),
        "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def redis_server(logdir: Path, port: int | None = None, name: str = "redis") -> Proc:
    """A throwaway redis-server of a test's own (never 6379), no persistence: one a test may stop."""
    port = port or free_port()
    assert port != 6379, "tests never use a Redis on 6379"
    data = logdir / f"{name}-data"
    data.mkdir(exist_ok=True)
    argv = [REDIS_BIN, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", "",
            "--appendonly", "no"]
    proc = Proc(name, argv, dict(os.environ), logdir, ready="Ready to accept connections")
    proc.port = port
    return proc


CLONE_NEWNET = 0x40000000


class NetNS:
    """Calls run on one thread that has joined the network namespace of process `pid`.

        ns = NetNS(proc.p.pid)
        ns(requests.get, "http://127.0.0.1:8000/healthz")   # 127.0.0.1 *inside* that namespace

    setns(2) moves only the calling thread, so the rest of the test stays on the host network.
    """

    def __init__(self, pid: int):
        self.fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        self.inode = os.stat(f"/proc/{pid}/ns/net").st_ino
        self.pool = ThreadPoolExecutor(1, initializer=self._enter)
        joined = self.pool.submit(lambda: os.stat("/proc/thread-self/ns/net").st_ino).result()
        assert joined == self.inode, "could not join the network namespace"

    def _enter(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(self.fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns failed")

    def __call__(self, fn, *args, **kwargs):
        return self.pool.submit(fn, *args, **kwargs).result()

    def processes(self) -> list[int]:
        """Pids of every process still in the namespace."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.stat(entry / "ns" / "net").st_ino == self.inode:
                        pids.append(int(entry.name))
                except OSError:
                    pass
        return pids

    def close(self) -> None:
        self.pool.shutdown()
        os.close(self.fd)
