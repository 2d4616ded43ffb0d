"""A Redis Sentinel set on 127.0.0.1 for tests and benchmarks: a primary, replicas, three sentinels.

Real processes of Debian's redis package (`redis-server`, `redis-server --sentinel`), each on a
free port, each logging to a file in `workdir`:

    ha = SentinelSet(workdir).start()        # returns once every sentinel sees the replicas and its peers
    ha.sentinels                             # [("127.0.0.1", port), ...] for SYNDICATION_REDIS_SENTINELS
    ha.kill_primary()                        # kill -9; returns the dead primary's port
    ha.wait_for_failover(old_port)           # the sentinels name a new primary
    ha.restart(old_port)                     # a supervisor bringing it back: the sentinels make it a replica
    ha.stop()

Fast failure detection (down-after-milliseconds 1000) so a failover takes seconds, not 30 s.
No persistence: a restarted server comes back empty and resyncs from the primary it is given.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"
HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (redis.RedisError, OSError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class SentinelSet:
    def __init__(self, workdir: Path, master: str = "syndication", replicas: int = 1, sentinels: int = 3,
                 down_after_ms: int = 1000, failover_timeout_ms: int = 5000):
        self.workdir, self.master = Path(workdir), master
        self.down_after_ms, self.failover_timeout_ms = down_after_ms, failover_timeout_ms
        self.server_ports = [_free_port() for _ in range(1 + replicas)]
        self.sentinel_ports = [_free_port() for _ in range(sentinels)]
        self.procs: dict[int, subprocess.Popen] = {}

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [(HOST, p) for p in self.sentinel_ports]

    @property
    def sentinels_env(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.sentinels)

    def _spawn(self, port: int, argv: list[str]) -> None:
        with open(self.workdir / f"redis-{port}.log", "ab") as log:
            self.procs[port] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                start_new_session=True)

    def _server_argv(self, port: int, replica_of: int | None) -> list[str]:
        data = self.workdir / f"data-{port}"
        data.mkdir(parents=True, exist_ok=True)
        argv = [REDIS_BIN, "--port", str(port), "--bind", HOST, "--dir", str(data), "--save", "",
                "--appendonly", "no", "--repl-diskless-sync-delay", "0"]
        return argv + (["--replicaof", HOST, str(replica_of)] if replica_of else [])

    def start(self) -> "SentinelSet":
        self.workdir.mkdir(parents=True, exist_ok=True)
        primary = self.server_ports[0]
        for port in self.server_ports:
            self._spawn(port, self._server_argv(port, None if port == primary else primary))
        for port in self.server_ports:
            _until(lambda p=port: redis.Redis(host=HOST, port=p, socket_timeout=1).ping(), 10, f"redis {port} up")
        for port in self.server_ports[1:]:
            _until(lambda p=port: self._replicating(p), 15, f"replica {port} in sync")
        for port in self.sentinel_ports:
            conf = self.workdir / f"sentinel-{port}.conf"
            conf.write_text("\n".join([
                f"port {port}", f"bind {HOST}", f"dir {self.workdir}",
                f"sentinel monitor {self.master} {HOST} {primary} 2",
                f"sentinel down-after-milliseconds {self.master} {self.down_after_ms}",
                f"sentinel failover-timeout {self.master} {self.failover_timeout_ms}",
                f"sentinel parallel-syncs {self.master} 1", ""]))
            self._spawn(port, [REDIS_BIN, str(conf), "--sentinel"])
        for port in self.sentinel_ports:
            _until(lambda p=port: self._sentinel_sees_all(p), 20, f"sentinel {port} sees its peers and the replicas")
        return self

    def _replicating(self, port: int) -> bool:
        info = redis.Redis(host=HOST, port=port, socket_timeout=1).info("replication")
        return info["role"] == "slave" and info["master_link_status"] == "up" and not info["master_sync_in_progress"]

    def _settled(self, new_port: int, old_port: int) -> bool:
        """Every sentinel names `new_port`, sees it healthy and no failover in progress, and lists the
        old primary as a replica: only then may the old one come back without a second election."""
        for port in self.sentinel_ports:
            s = redis.Redis(host=HOST, port=port, socket_timeout=1, decode_responses=True)
            state = s.sentinel_master(self.master)
            if int(state["port"]) != new_port or state["flags"] != "master":
                return False
            if old_port not in {int(r["port"]) for r in s.sentinel_slaves(self.master)}:
                return False
        return True

    def _sentinel_sees_all(self, port: int) -> bool:
        state = redis.Redis(host=HOST, port=port, socket_timeout=1, decode_responses=True).sentinel_master(self.master)
        return (state["num-other-sentinels"] == len(self.sentinel_ports) - 1
                and state["num-slaves"] == len(self.server_ports) - 1)

    def primary_port(self) -> int:
        """The primary the sentinels name now (asked of the first sentinel that answers)."""
        for port in self.sentinel_ports:
            try:
                host, primary = redis.Redis(host=HOST, port=port, socket_timeout=1).sentinel_get_master_addr_by_name(
                    self.master)
                return int(primary)
            except (redis.RedisError, TypeError):
                continue
        raise AssertionError("no sentinel answers")

    def client(self, port: int | None = None) -> redis.Redis:
        return redis.Redis(host=HOST, port=port or self.primary_port(), socket_timeout=5)

    def kill(self, port: int) -> None:
        proc = self.procs[port]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def kill_primary(self) -> int:
        port = self.primary_port()
        self.kill(port)
        return port

    def wait_for_failover(self, old_port: int, timeout: float = 30) -> int:
        """The new primary's port, once every sentinel names it and it says it is a master."""
        def promoted():
            ports = {self._named_by(p) for p in self.sentinel_ports}
            if len(ports) != 1 or old_port in ports or None in ports:
                return None
            port = ports.pop()
            return port if redis.Redis(host=HOST, port=port, socket_timeout=1).info("replication")["role"] == "master" \
                else None
        return _until(promoted, timeout, "the sentinels to promote a replica")

    def _named_by(self, sentinel_port: int) -> int | None:
        try:
            addr = redis.Redis(host=HOST, port=sentinel_port, socket_timeout=1).sentinel_get_master_addr_by_name(
                self.master)
            return int(addr[1])
        except (redis.RedisError, TypeError):
            return None

    def restart(self, port: int) -> None:
        """Start a killed server again as it was (it thinks it is a primary); the sentinels demote it
        to a replica of the current primary within seconds. Returns once it replicates.

        Waits first until the sentinels agree the failover is over: an empty server coming back
        while one of them still runs an election can be promoted and wipe the data (Redis's docs
        warn of exactly this for primaries restarted without persistence)."""
        new_port = self.primary_port()
        _until(lambda: self._settled(new_port, port), 30, "the sentinels to settle on the new primary")
        self._spawn(port, self._server_argv(port, None))
        _until(lambda: self._replicating(port), 30, f"redis {port} to rejoin as a replica")

    def stop(self) -> None:
        for port, proc in self.procs.items():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
