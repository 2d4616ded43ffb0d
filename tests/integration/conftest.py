"""Fixtures of the in-process pipeline tests (test_pipeline_*.py, test_status_check.py).

pytest hands these to every test in tests/integration that names them; a module that
defines its own `ctx` (test_circuit.py, test_render_race.py, ...) overrides them.
What they build and the helpers the tests call are in tests/support/pipeline.py.
`newsroom` (the sitemap and subject tests) is a running service of their own: tests/support/newsroom.py.
"""

from __future__ import annotations

import pytest

from syndication.infra.context import Context
from tests.support import hub as hub_service
from tests.support import newsroom as newsroom_service
from tests.support.pipeline import pipeline_context
from tests.support.receiver import Receiver, Reply


@pytest.fixture(scope="session")
def _partner_server():
    server = Receiver.start()  # one for the session: stopping one costs half a second
    yield server
    server.stop()


@pytest.fixture
def receiver(_partner_server) -> Receiver:
    """The partner server, with no requests recorded and answering 200 until scripted."""
    with _partner_server.lock:
        _partner_server.requests.clear()
    _partner_server.script([])
    _partner_server.default = Reply()
    return _partner_server


@pytest.fixture
def ctx(redis_url, tmp_path, receiver) -> Context:
    """A Context of the pipeline tests' partners and feeds (tests/support/pipeline.py), a key prefix of its own."""
    return pipeline_context(redis_url, tmp_path, receiver.url)


@pytest.fixture(scope="session")
def newsroom(redis_url, tmp_path_factory) -> newsroom_service.Newsroom:
    """A service of its own (API, workers, a partner) for the sitemap and subject tests (tests/support/newsroom.py)."""
    yield from newsroom_service.start(redis_url, tmp_path_factory.mktemp("newsroom"))


@pytest.fixture(scope="session")
def hub(redis_url, tmp_path_factory) -> hub_service.Hub:
    """A service of its own whose feeds advertise our own WebSub hub, with real subscribers (tests/support/hub.py)."""
    yield from hub_service.start(redis_url, tmp_path_factory.mktemp("hub"))
