"""`syndication up` owns its processes, and fails in one plain line.

docs/tutorials/first-run.md ("Two commands"): whatever happens to `up`'s stdout, its signals or its children, it
keeps supervising or stops every process it started, its own redis-server included:

- its reader leaving (`up | head -3`, or quitting a pager while nothing is written): all stop;
- SIGTERM to `up` alone (not its group): all stop, exit 0; SIGKILL to `up`: its children still
  go (they are tied to it by a parent-death signal);
- a child dying on its own: the others are stopped, exit 1;
- a busy port, an unreachable SYNDICATION_REDIS_URL: one line, exit 1, nothing started;
- `config check` with an unreachable Redis: one line, exit 1 (`--offline` checks files only).

Each `up` runs in a private network namespace (as test_promises_up.py), so "no process
survives" is checked exactly: no process is left in that namespace.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from tests.integration.test_promises_up import BASE, UNSHARE, UP, host_env, status, up_in_namespace
from tests.support.processes import ROOT, NetNS, free_port, wait_for

pytestmark = pytest.mark.integration
IN_NS = [UNSHARE, "-n", "--", "sh", "-c"]


def in_fresh_namespace(script: str, env: dict) -> tuple[subprocess.Popen, NetNS]:
    """`sh -c script` (with `$@` = up's argv) as the first process of a new network namespace."""
    p = subprocess.Popen([*IN_NS, f"ip link set lo up && {script}", "sh", *UP], env=env, cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(lambda: os.path.exists(f"/proc/{p.pid}/ns/net") and
             os.stat(f"/proc/{p.pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino,
             timeout=10, what="the namespace")
    return p, NetNS(p.pid)


def finish(p: subprocess.Popen, ns: NetNS, timeout: float = 60) -> tuple[str, str]:
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        raise
    return out, err


def nothing_left(ns: NetNS) -> None:
    try:
        wait_for(lambda: not ns.processes(), timeout=30, what="no process of up left in its namespace")
    finally:
        for pid in ns.processes():  # a failed test must not leave workers behind
            os.kill(pid, signal.SIGKILL)
        ns.close()


@pytest.mark.parametrize("reader", ["head -3", "sed '/Ctrl-C stops all/q'"], ids=["head-3", "reader-leaves-idle"])
def test_a_closed_stdout_stops_every_process(tmp_path, reader):
    # head -3 leaves during start-up; sed leaves once all is up and nothing more is being written.
    env = host_env(SYNDICATION_DATA_DIR=str(tmp_path / "data"))
    p, ns = in_fresh_namespace(f'"$@" | {reader}', env)
    try:
        out, err = finish(p, ns)
        assert p.returncode == 0, (out, err)
        assert "Traceback" not in err and "BrokenPipe" not in err, err
        if reader.startswith("sed"):
            assert "Ctrl-C stops all" in out and "stdout closed; stopping every process" in err, (out, err)
    finally:
        nothing_left(ns)


def test_sigterm_to_up_alone_stops_all_and_sigkill_takes_the_children_along(tmp_path):
    argv = [*IN_NS, 'ip link set lo up && exec "$@"', "sh", *UP]
    env = host_env(SYNDICATION_DATA_DIR=str(tmp_path / "data"))
    # --verbose here: everything is shown (Celery's banner), and "API on ..." still comes once all are up.
    with up_in_namespace("up-term", [*argv, "--verbose"], env, tmp_path) as (up, ns):
        assert "-------------- [queues]" in up.log.read_text()
        assert len(ns.processes()) >= 6  # api, events, feeds, deliveries, receiver, redis-server, up
        os.kill(up.p.pid, signal.SIGTERM)  # up alone: its children are in process groups of their own
        assert up.p.wait(60) == 0, up.tail()
        wait_for(lambda: not ns.processes(), timeout=30, what="every process gone after SIGTERM to up")
        assert "SIGTERM received; stopping" in up.log.read_text()

    with up_in_namespace("up-kill", argv, env, tmp_path) as (up, ns):
        os.kill(up.p.pid, signal.SIGKILL)  # nothing of up runs: the kernel tells its children
        up.p.wait(10)
        wait_for(lambda: not ns.processes(), timeout=30, what="every child gone after SIGKILL to up")


def test_a_child_that_dies_stops_the_others_and_up_exits_1(tmp_path):
    argv = [*IN_NS, 'ip link set lo up && exec "$@"', "sh", *UP]
    env = host_env(SYNDICATION_DATA_DIR=str(tmp_path / "data"))
    with up_in_namespace("up-child", argv, env, tmp_path) as (up, ns):
        api = [pid for pid in ns.processes() if b"syndication.cli\x00api" in _cmdline(pid)]
        assert len(api) == 1
        os.kill(api[0], signal.SIGKILL)
        assert up.p.wait(60) == 1, up.tail()
        wait_for(lambda: not ns.processes(), timeout=30, what="every process gone after the API died")
        assert "api exited with code -9 on its own; stopping" in up.log.read_text()
        assert ns(status, f"{BASE}/healthz") is None


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def test_a_busy_port_is_one_line_and_nothing_starts(tmp_path, redis_url):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        env = host_env(SYNDICATION_REDIS_URL=redis_url, SYNDICATION_DATA_DIR=str(tmp_path / "data"))
        out = subprocess.run([*UP, "--port", str(port)], env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [
        f"syndication: cannot listen on 127.0.0.1:{port}: Address already in use; is another "
        f"`syndication up` running? choose a port with --port"], out.stderr
    assert out.stdout == ""  # nothing started, nothing announced
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("argv", [UP, [sys.executable, "-m", "syndication.cli", "config", "check"]],
                         ids=["up", "config check"])
def test_an_unreachable_configured_redis_is_one_line_and_exit_1(tmp_path, argv):
    url = f"redis://:secret-password@127.0.0.1:{free_port()}/0"  # nobody listens
    env = host_env(SYNDICATION_REDIS_URL=url, SYNDICATION_DATA_DIR=str(tmp_path / "data"))
    out = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cannot reach Redis at redis://127.0.0.1:{url.rsplit(':', 1)[1]}:")
    assert "secret-password" not in out.stdout + out.stderr and "API on" not in out.stdout
    assert "started" not in out.stdout
    offline = subprocess.run([*argv, "--offline"], env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=60) if argv[-1] == "check" else None
    if offline is not None:
        assert offline.returncode == 0 and "not pinged (--offline)" in offline.stdout, offline.stderr


def test_docs_work_with_no_network(service):
    """/docs and /redoc reference only our own URLs (no CDN), and each answers 200; opening them
    (and the OpenAPI document they load) logs no FastAPI warning."""
    import re

    import requests

    api_log = service.procs["api"].log
    before = api_log.stat().st_size
    for page in ("/docs", "/redoc"):
        html = requests.get(service.api_url + page, timeout=10)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        assert not re.search(r"(?:https?:)?//", html.text.replace("http://www.w3.org", "")), html.text
        refs = re.findall(r"""(?:src|href|url)\s*[:=]\s*["']([^"']+)["']""", html.text)
        assert {"/openapi.json"} < set(refs), refs
        for ref in refs:
            assert ref.startswith("/"), ref
            got = requests.get(service.api_url + ref, timeout=10)
            assert got.status_code == 200 and len(got.content) > 100, (ref, got.status_code)
    assert "Duplicate Operation ID" not in api_log.read_bytes()[before:].decode(errors="replace")
