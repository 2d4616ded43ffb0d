"""Shared fixtures: a throwaway redis-server, and the whole service as real processes.

The suite never touches a Redis it did not start: pytest-redis starts
`redis-server` on a free port (no persistence) and we refuse 6379 outright,
so a developer's real Redis is never flushed. A missing redis-server is a
failure, not a skip.

The log scan (tests/support/logscan.py) runs after every test that uses
`service` or lives in tests/integration: what any service process logged
during the test must hold no key, secret, article body or (unless the test
is marked `expect_traceback`) Python traceback, or that test fails.

Order: tests marked `runs_last` (the key-family census, the W3C check of the served feeds)
run after every other test of the session, so they judge what the whole run left behind;
`pytest_collection_modifyitems` below puts them there (tests/support/ordering.py). No
file-name ordering: a test file's name says what it checks, not when it runs.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis as redis_lib
import yaml
from pytest_redis import factories

from syndication.infra.context import Context
from syndication.configuration import load_settings
from tests.support import config, logscan, ordering, parallel
from tests.support.processes import Proc, api, free_port, start_all, stop_all, worker
from tests.support.receiver import Receiver

REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"
redis_proc = factories.redis_proc(executable=REDIS_BIN, port=None)

API_KEY = "test-publisher-key"
OPS_KEY = "test-ops-key"
FEED_KEY = "test-feed-key"
logscan.forbid_env({"SYNDICATION_API_KEYS": f"other-key,{API_KEY}", "SYNDICATION_OPS_KEYS": OPS_KEY,
                    "SYNDICATION_FEED_KEYS": FEED_KEY})


@pytest.fixture(scope="session")
def redis_url(redis_proc, request):
    if not Path(REDIS_BIN).exists():
        pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
    assert int(redis_proc.port) != 6379, "tests must never use a Redis on 6379"
    url = f"redis://127.0.0.1:{redis_proc.port}/0"
    yield url
    # Every process that used it has stopped (fixtures that need it are torn down first): on an
    # xdist worker, what it holds now goes to the key-family census (tests/support/parallel.py).
    with redis_lib.Redis.from_url(url) as client:
        parallel.write_snapshot(request.config, client)


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


# Partners and a feed of the promise tests (tests/integration/test_promises_*.py), each on a
# category of its own so no other test's articles reach them.
PROMISE_PARTNERS = {
    # max_age 2 s with quick retries and a breaker that never opens: dies of age, not of attempts.
    "expiring": {"format": "json", "filters": {"categories": ["Expiring"]}, "allow_private_network": True,
                 "retry": {"max_age": 2, "base_delay": 0.2, "max_delay": 0.3, "max_attempts": 100},
                 "breaker_threshold": 100},
    "listing": {"format": "json", "filters": {"categories": ["Listing"]}, "allow_private_network": True,
                "retry": {"base_delay": 0.2, "max_delay": 0.5}, "breaker_threshold": 100},
    # A hostname (not an address) that resolves to loopback, without allow_private_network.
    "localhost-guard": {"format": "json", "filters": {"categories": ["LocalhostGuard"]}, "localhost": True},
}
PROMISE_FEEDS = [{"name": "ordered", "title": "Newest first", "filters": {"categories": ["NewestFirst"]}}]


def _add_promise_config(partners_file: Path, feeds_file: Path, receivers: dict[str, Receiver]) -> None:
    partners = yaml.safe_load(partners_file.read_text())
    for pid, spec in PROMISE_PARTNERS.items():
        spec = dict(spec)
        url = receivers[pid].url
        if spec.pop("localhost", False):
            url = url.replace("127.0.0.1", "localhost")
        partners["partners"].append({"id": pid, "url": url, **spec})
    partners_file.write_text(yaml.safe_dump(partners, allow_unicode=True))
    feeds = yaml.safe_load(feeds_file.read_text())
    feeds["feeds"].extend(PROMISE_FEEDS)
    feeds_file.write_text(yaml.safe_dump(feeds, allow_unicode=True))


@pytest.fixture(scope="session")
def service(redis_url, tmp_path_factory) -> Service:
    tmp = tmp_path_factory.mktemp("service")
    partners = {name: Receiver.start() for name in [*config.receiver_names(), *PROMISE_PARTNERS]}
    partners_file, feeds_file = config.write(tmp, partners)
    _add_promise_config(partners_file, feeds_file, partners)
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
    logscan.forbid_env(env)
    procs = {
        "api": api(env, tmp, port),
        "events": worker("events", env, tmp),
        "feeds": worker("feeds", env, tmp, concurrency=2),
        "deliveries": worker("deliveries", env, tmp, concurrency=4),
    }
    svc = Service(f"http://127.0.0.1:{port}", env, Context.build(load_settings(env)), partners, procs)
    try:
        start_all(procs.values())  # cold starts overlap
        yield svc
    finally:
        stop_all(procs.values())
        for r in partners.values():
            r.stop()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


def pytest_configure(config):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    config.addinivalue_line(
        "markers", "expect_traceback(*contains, reason): this test makes a service process log a Python "
                   "traceback on purpose; the log scan allows one holding any of `contains` (any, if none)")
    config.addinivalue_line("markers", ordering.DOC)
    config.addinivalue_line("markers", parallel.ALONE_DOC)
    if config.pluginmanager.hasplugin("xdist"):  # `make test` runs the suite on 2 workers (tests/support/parallel.py)
        config.pluginmanager.register(parallel.Plugin(), "syndication-parallel")


@pytest.hookimpl(trylast=True)  # after any plugin's reordering, so `runs_last` has the last word
def pytest_collection_modifyitems(config, items):
    items[:] = ordering.runs_last(items)


_SCAN = logscan.LogScan()


@pytest.fixture(autouse=True)
def log_scan(request):
    """The log scan of this test: checked after the test body runs (pytest_runtest_call below),
    for tests that use `service` or live in tests/integration; other tests only skip past the logs."""
    path = Path(str(request.node.path))
    active = "service" in request.fixturenames or path.parent.name == "integration"
    marker = request.node.get_closest_marker("expect_traceback")
    if marker is not None and not marker.kwargs.get("reason"):
        pytest.fail("@pytest.mark.expect_traceback needs a reason=")
    yield {"active": active, "expected": tuple(marker.args) if marker else None}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    scan = getattr(item, "funcargs", {}).get("log_scan")
    try:
        result = yield
    except BaseException as exc:
        if scan and scan["active"]:
            findings = _SCAN.check(scan["expected"])
            if findings:
                exc.add_note(logscan.report(findings))
        else:
            _SCAN.skip()
        raise
    if scan and scan["active"]:
        findings = _SCAN.check(scan["expected"])
        if findings:
            pytest.fail(logscan.report(findings), pytrace=False)
    else:
        _SCAN.skip()
    return result
