"""A local Redis for `syndication up`, when none is configured and none answers.

It runs with AOF on (`appendfsync everysec`) in a data directory, so
accepted events survive a restart of the local service, and with a memory ceiling and no
eviction, as in production (eviction would delete delivery state; `status` warns without both).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from syndication.infra.redis_client import connect, ping

LOCAL_MAXMEMORY = "1gb"
INSTALL_HINT = (
    "redis-server is not installed. Install it with:\n"
    "  Debian/Ubuntu: sudo apt-get install -y redis-server\n"
    "  macOS:         brew install redis\n"
    "or point SYNDICATION_REDIS_URL at a Redis you run."
)


def start(data_dir: Path, port: int = 6379, timeout: float = 10.0,
          popen_options: dict | None = None) -> subprocess.Popen:
    """`popen_options`: how the caller ties the server's life to its own (process group, ...)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit(INSTALL_HINT)
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir.resolve()),
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
         "--maxmemory", LOCAL_MAXMEMORY, "--maxmemory-policy", "noeviction", "--logfile", "redis.log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **(popen_options or {}),
    )
    client = connect(f"redis://127.0.0.1:{port}/0")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"redis-server exited at start; see {data_dir / 'redis.log'}")
        if ping(client):
            return proc
        time.sleep(0.05)
    proc.terminate()
    raise SystemExit(f"redis-server did not answer within {timeout:.0f}s; see {data_dir / 'redis.log'}")
