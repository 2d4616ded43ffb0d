"""Starting the service's real processes for tests: API (uvicorn), Celery workers, beat.

Each runs as its own OS process with the environment a deployment would
give it, logging to a file under the test's tmp dir. `kill()` sends SIGKILL
to the whole process group (main process and pool), as a crash would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


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
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as fh:
            self.p = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        if self.ready:
            wait_for(lambda: self._alive() and self.ready.encode() in self.log.read_bytes()[offset:],
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


def worker(queue: str, env: dict, logdir: Path, pool: str = "threads", concurrency: int = 4) -> Proc:
    argv = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queue, "-P", pool,
            "-c", str(concurrency), "-n", f"{queue}-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
            "-E", "-l", "info"]
    return Proc(f"worker-{queue}", argv, env, logdir, ready=" ready.")


def beat(env: dict, logdir: Path) -> Proc:
    argv = [sys.executable, "-m", "celery", "-A", "workers", "beat", "-l", "info",
            "-s", str(logdir / "beat-schedule")]
    return Proc("beat", argv, env, logdir, ready="beat: Starting")


def api(env: dict, logdir: Path, port: int) -> Proc:
    argv = [sys.executable, "-m", "syndication.cli", "api", "--host", "127.0.0.1", "--port", str(port)]
    return Proc("api", argv, env, logdir, url=f"http://127.0.0.1:{port}/healthz")
