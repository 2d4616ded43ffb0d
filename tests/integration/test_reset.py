"""`syndication reset`: only this deployment's keys go, after a confirmation; a remote Redis is refused.

A throwaway redis-server of this test's own (a password, so the prompt can be seen hiding it)
holds keys under our prefix, under another deployment's prefix, and one that our prefix would
match only if its glob characters were not escaped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import redis

from tests.support.processes import REDIS_BIN, Proc, free_port

pytestmark = pytest.mark.integration
PASSWORD = "reset-test-password"
OURS = "synd-[t]:"  # glob characters in it: must match literally
OTHER = "synd-other:"


@pytest.fixture
def server(tmp_path):
    port = free_port()
    argv = [REDIS_BIN, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--requirepass", PASSWORD, "--dir", str(tmp_path)]
    proc = Proc("redis-reset", argv, dict(os.environ), tmp_path, ready="Ready to accept connections").start()
    try:
        yield f"redis://:{PASSWORD}@127.0.0.1:{port}/0", redis.Redis(port=port, password=PASSWORD)
    finally:
        proc.stop()


def populate(client: redis.Redis) -> None:
    with client.pipeline() as pipe:
        for i in range(1200):  # more than one SCAN page and one UNLINK batch
            pipe.set(f"{OURS}article:a{i}", "x")
        pipe.hset(f"{OURS}event:evt-1", "status", "accepted")
        pipe.lpush(f"{OURS}celery:deliveries", "message")  # Celery's broker keys are ours too
        pipe.set(f"{OTHER}article:a1", "theirs")
        pipe.set("synd-t:article:a1", "theirs")  # what `synd-[t]:*` would match as a glob
        pipe.set("unprefixed", "theirs")
        pipe.execute()


def reset(url: str, *flags: str, answer: str | None = None, prefix: str = OURS) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
           "SYNDICATION_REDIS_URL": url, "SYNDICATION_KEY_PREFIX": prefix}
    return subprocess.run([sys.executable, "-m", "syndication.cli", "reset", *flags], env=env, input=answer,
                          capture_output=True, text=True, timeout=60)


def ours(client: redis.Redis) -> int:
    return sum(1 for k in client.scan_iter(count=1000) if k.startswith(OURS.encode()))


def test_reset_asks_showing_url_prefix_and_count_and_deletes_only_our_prefix(server):
    url, client = server
    populate(client)
    total = client.dbsize()

    said_no = reset(url, answer="n\n")
    assert said_no.returncode == 2, said_no.stdout + said_no.stderr
    assert "nothing deleted" in said_no.stderr
    assert PASSWORD not in said_no.stdout + said_no.stderr
    assert f"127.0.0.1:{client.connection_pool.connection_kwargs['port']}/0" in said_no.stdout
    assert f"prefix: {OURS}" in said_no.stdout and "keys:   1202" in said_no.stdout, said_no.stdout
    assert client.dbsize() == total

    said_yes = reset(url, answer="y\n")
    assert said_yes.returncode == 0, said_yes.stdout + said_yes.stderr
    assert "deleted 1202 keys" in said_yes.stdout, said_yes.stdout
    assert ours(client) == 0
    assert sorted(client.keys()) == [b"synd-other:article:a1", b"synd-t:article:a1", b"unprefixed"]

    populate(client)
    quiet = reset(url, "--yes")
    assert quiet.returncode == 0 and "Delete" not in quiet.stdout and ours(client) == 0, quiet.stdout
    again = reset(url, "--yes")
    assert again.returncode == 0 and "nothing to delete" in again.stdout


def test_no_answer_is_no(server):
    url, client = server
    populate(client)
    out = reset(url, answer="")  # stdin closed: EOF, never a yes
    assert out.returncode == 2 and ours(client) == 1202


def test_a_redis_that_is_not_local_is_refused_from_its_url_before_connecting():
    url = f"redis://:{PASSWORD}@redis.invalid:7000/0"  # resolves nowhere: connecting would fail with exit 1
    started = time.monotonic()
    out = reset(url, "--yes")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "not a local Redis" in out.stderr and "--force" in out.stderr and PASSWORD not in out.stderr
    assert time.monotonic() - started < 10
    forced = reset(url, "--yes", "--force")  # allowed to try: then it cannot reach it, one line
    assert forced.returncode == 1, forced.stdout + forced.stderr
    lines = forced.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cannot reach Redis") and PASSWORD not in forced.stderr


def test_an_unreachable_local_redis_is_one_line_and_exit_1():
    out = reset(f"redis://127.0.0.1:{free_port()}/0", "--yes")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "cannot reach Redis" in out.stderr
