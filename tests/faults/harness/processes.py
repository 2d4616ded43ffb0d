"""Process control for the fault cluster: a redis-server with an AOF, kill -9, starting things at once."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

from tests.support.processes import Proc


class RedisProc(Proc):
    """redis-server on a free port, appending every write to an AOF fsynced once a second."""

    def __init__(self, tmp: Path, port: int):
        data = tmp / "redis"
        data.mkdir(exist_ok=True)
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxmemory-policy",
                "noeviction"]
        super().__init__("redis", argv, dict(os.environ), tmp, ready="Ready to accept connections")
        self.port = port

    def cli(self, *args: str) -> str:
        out = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, timeout=10)
        return out.stdout.decode().strip()

    def shutdown_nosave(self) -> None:
        """A clean stop: the AOF is flushed and fsynced, nothing accepted may be lost."""
        self.cli("SHUTDOWN", "NOSAVE")
        self.p.wait(10)

    def crash(self) -> None:
        """kill -9: what reached the AOF file but not the disk (everysec) is at the OS's mercy."""
        os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait(10)


def kill(proc: Proc) -> None:
    """kill -9 the process group: no shutdown handler runs, whatever it held dies with it."""
    os.killpg(proc.p.pid, signal.SIGKILL)
    proc.p.wait(10)


def parallel(calls) -> None:
    """Run the calls at once, each in its own thread; re-raise the first failure in this thread."""
    errors: list[BaseException] = []

    def run(call):
        try:
            call()
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]

