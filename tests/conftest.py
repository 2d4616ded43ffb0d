"""Shared fixtures: a throwaway redis-server, and the whole service as real processes.

The suite never touches a Redis it did not start: pytest-redis starts
`redis-server` on a free port (no persistence) and we refuse 6379 outright,
so a developer's real Redis is never flushed. A missing redis-server is a
failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_redis import factories

from syndication.infra.context import Context
from syndication.configuration import load_settings
from tests.support import config
from tests.support.processes import Proc, api, beat, free_port, worker
from tests.support.receiver import Receiver

REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"
redis_proc = factories.redis_proc(executable=REDIS_BIN, port=None)

API_KEY = "test-publisher-key"
OPS_KEY = "test-ops-key"
FEED_KEY = "test-feed-key"


@pytest.fixture(scope="session")
def redis_url(redis_proc) -> str:
    if not Path(REDIS_BIN).exists():
        pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
    assert int(redis_proc.port) != 6379, "tests must never use a Redis on 6379"
    return f"redis://127.0.0.1:{redis_proc.port}/0"


@dataclass
class Service:
    """The running service: URLs, keys, partner receivers and a core context on the same Redis."""

    api_url: str
    env: dict
    ctx: Context
    partners: dict[str, Receiver]
    procs: dict[str, Proc] = field(default_factory=dict)

    def headers(self, key: str = API_KEY) -> dict:
        return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


@pytest.fixture(scope="session")
def service(redis_url, tmp_path_factory) -> Service:
    tmp = tmp_path_factory.mktemp("service")
    partners = {name: Receiver.start() for name in config.receiver_names()}
    partners_file, feeds_file = config.write(tmp, partners)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
        "SYNDICATION_REDIS_URL": redis_url,
        "SYNDICATION_KEY_PREFIX": f"t{uuid.uuid4().hex[:6]}:",
        "SYNDICATION_API_KEYS": f"other-key,{API_KEY}",
        "SYNDICATION_OPS_KEYS": OPS_KEY,
        "SYNDICATION_PARTNERS_FILE": str(partners_file),
        "SYNDICATION_FEEDS_FILE": str(feeds_file),
        "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}",
        "SYNDICATION_WEBSUB_HUB": partners["hub"].url,
        "SYNDICATION_FEED_KEYS": FEED_KEY,
        # The tests' HTTP client stands where a TLS-terminating reverse proxy would (X-Forwarded-Proto).
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        **config.SECRETS,
        "PYTHONUNBUFFERED": "1",
    }
    procs = {
        "api": api(env, tmp, port),
        "events": worker("events", env, tmp),
        "feeds": worker("feeds", env, tmp, concurrency=2),
        "deliveries": worker("deliveries", env, tmp, concurrency=4),
        "beat": beat(env, tmp),
    }
    svc = Service(f"http://127.0.0.1:{port}", env, Context.build(load_settings(env)), partners, procs)
    try:
        for proc in procs.values():
            proc.start()
        yield svc
    finally:
        for proc in procs.values():
            proc.stop()
        for r in partners.values():
            r.stop()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


def pytest_configure(config):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
