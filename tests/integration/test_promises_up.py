"""`syndication up` on a machine with no Redis: it starts its own, with the local key and no config files.

docs/tutorials/first-run.md ("Two commands", "Publish events") and docs/how-to/configure.md:
without SYNDICATION_REDIS_URL, `up` uses the Redis answering on 127.0.0.1:6379, else starts its own redis-server (AOF on,
data in the data dir) and says so; without redis-server it says how to install it; without
SYNDICATION_API_KEYS it uses `local-dev-key`, which `publish` uses by default; without a
partners file it runs the local demo (cli/demo.py: the demo partner and its receiver, the
example feeds; the quickstart test follows a push). A Redis answering on 6379 without AOF is
used, with a warning. Start-up is quiet: one ready line per process, then "API on ...".
How `up` stops (closed stdout, signals, a dying child, a busy port) is test_up_robust.py.

`up` runs inside a private network namespace (`unshare -n`, as root), so 127.0.0.1:6379
there is nobody's Redis: the machine's own Redis on 6379 can be neither used nor disturbed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager

import pytest
import redis
import requests

from tests.support.events import article_event
from tests.support.logscan import BODY_MARKER
from tests.support.processes import REDIS_BIN, ROOT, NetNS, Proc, wait_for

pytestmark = pytest.mark.integration
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"
UP = [sys.executable, "-m", "syndication.cli", "up"]
BASE = "http://127.0.0.1:8000"  # up's default port: free, inside a namespace of its own


def host_env(**extra) -> dict:
    """The machine's environment without any SYNDICATION_* (as on a fresh checkout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def status(url: str, **kw) -> int | None:
    try:
        return requests.get(url, timeout=3, **kw).status_code
    except requests.RequestException:
        return None


def in_namespace(pid: int, *argv: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([NSENTER, "-t", str(pid), "-n", "--", *argv], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


@contextmanager
def up_in_namespace(name: str, argv: list[str], env: dict, tmp_path):
    """`syndication up` in its own network namespace, its API answering; afterwards every process
    of it (its redis-server too) gone."""
    up = Proc(name, argv, env, tmp_path, ready="Ctrl-C stops all").start(timeout=60)
    ns = NetNS(up.p.pid)
    try:
        wait_for(lambda: ns(status, f"{BASE}/readyz") == 200, timeout=90, what="up's API ready in the namespace")
        yield up, ns
    finally:
        up.stop(timeout=30)
        wait_for(lambda: not ns.processes(), timeout=30, what="every process of up gone, redis-server too")
        ns.close()


def test_up_starts_its_own_redis_and_uses_the_local_key_and_the_default_config(tmp_path, unique):
    data = tmp_path / "data"
    ops = {"Authorization": f"Bearer up-ops-{unique}"}
    env = host_env(SYNDICATION_DATA_DIR=str(data), SYNDICATION_OPS_KEYS=f"up-ops-{unique}")
    assert "SYNDICATION_REDIS_URL" not in env and "SYNDICATION_API_KEYS" not in env
    argv = [UNSHARE, "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *UP]
    with up_in_namespace("up", argv, env, tmp_path) as (up, ns):
        assert ns.inode != os.stat("/proc/self/ns/net").st_ino, "up must not share the machine's network"
        said = up.log.read_text()
        assert "no Redis configured or answering; started redis-server on 127.0.0.1:6379" in said, said
        assert "SYNDICATION_API_KEYS not set; local publisher key is 'local-dev-key'" in said
        assert "AOF off" not in said  # its own Redis has AOF on

        # The Redis answering there is the one up started: AOF on, data in SYNDICATION_DATA_DIR/redis.
        conf = ns(lambda: redis.Redis(port=6379).config_get("appendonly", "dir"))
        assert conf[b"appendonly" if b"appendonly" in conf else "appendonly"] in (b"yes", "yes")
        assert str((data / "redis").resolve()) in str(conf.get(b"dir", conf.get("dir")))
        assert list((data / "redis").glob("appendonly*")), "no AOF files in the data dir"

        # `publish` with no key given and none configured: local-dev-key, accepted.
        aid = f"up-{unique}"
        event = tmp_path / "event.json"
        event.write_text(json.dumps(article_event(aid, categories=["Anything"], body_html=f"<p>{BODY_MARKER}</p>")))
        out = in_namespace(up.p.pid, sys.executable, "-m", "syndication.cli", "publish", str(event), env=host_env())
        assert out.returncode == 0 and f"202 accepted event_id=evt-{aid}-v1" in out.stdout, out.stdout + out.stderr
        refused = in_namespace(up.p.pid, sys.executable, "-m", "syndication.cli", "publish", "--key", "nope",
                               str(event), env=host_env())
        assert refused.returncode == 2 and "401" in refused.stderr  # the key is checked: local-dev-key is it

        # No feeds file: the example feeds (as `make run` always had), and the article is in `all`.
        feeds = ns(lambda: requests.get(f"{BASE}/feeds", timeout=5).json())
        assert [f["name"] for f in feeds["feeds"]][:2] == ["all", "president"], feeds
        wait_for(lambda: aid.encode() in ns(lambda: requests.get(f"{BASE}/feeds/all.rss", timeout=5).content),
                 timeout=30, what="the article in all.rss")
        # No partners file: the demo partner has a delivery of it (the ops key we set is the one in force).
        listed = ns(lambda: requests.get(f"{BASE}/v1/deliveries", headers=ops, timeout=5))
        assert listed.status_code == 200 and {d["partner"] for d in listed.json()["deliveries"]} <= {"demo"}

        # Quiet: a ready line per process, no Celery banner, no JSON start-up chatter.
        said = up.log.read_text()
        assert "api ready on http://127.0.0.1:8000" in said and "events worker ready (threads x2)" in said
        assert said.index("api ready") < said.index("API on http://127.0.0.1:8000")
        assert "-------------- [queues]" not in said and "SecurityWarning" not in said
        assert "Connected to redis" not in said


def test_up_uses_the_redis_answering_on_6379_and_warns_when_its_aof_is_off(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    # In the namespace: a redis-server on 6379 without AOF (like a development machine's), then up.
    script = ("ip link set lo up && "
              f"({REDIS_BIN} --port 6379 --bind 127.0.0.1 --save '' --appendonly no --dir {data} >/dev/null &) && "
              "for i in $(seq 200); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.05; done && "
              'exec "$@"')
    argv = [UNSHARE, "-n", "--", "sh", "-c", script, "sh", *UP]
    with up_in_namespace("up-6379", argv, host_env(SYNDICATION_DATA_DIR=str(data)), tmp_path) as (up, ns):
        said = up.log.read_text()
        assert "using the Redis answering at redis://127.0.0.1:6379/0" in said, said
        assert "warning: this Redis has AOF off" in said and "started redis-server" not in said
        assert not (data / "redis").exists()


def test_up_without_redis_server_says_how_to_install_it(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = host_env(SYNDICATION_DATA_DIR=str(tmp_path / "data"), PATH=str(empty))
    out = subprocess.run([UNSHARE, "-n", "--", *UP], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "redis-server is not installed" in out.stderr and "apt-get install -y redis-server" in out.stderr
    assert "started redis-server" not in out.stdout and "API on" not in out.stdout
