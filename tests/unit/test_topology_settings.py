"""The process topology is settings: read once, checked by `config check`, shown by `status`, used by every launcher."""

from __future__ import annotations

import logging

import pytest

from syndication.cli.topology import worker_specs
from syndication.configuration import load_settings
from syndication.errors import ConfigError
from syndication.ops.status import topology


def test_the_topology_comes_from_the_settings():
    s = load_settings({"SYNDICATION_DELIVERY_PROCESSES": "3", "SYNDICATION_DELIVERY_IN_FLIGHT": "200"})
    specs = worker_specs(s)
    assert [(w.name, w.queue, w.pool, w.concurrency) for w in specs] == [
        ("events", "events", "threads", 2), ("feeds", "feeds", "threads", 2),
        *[(f"deliveries{i}", "deliveries", "threads", 2) for i in (1, 2, 3)]]
    assert topology(s) == {"settings_version": 0, "delivery_processes": 3, "worker_pool": "threads",
                           "worker_threads": 2, "delivery_in_flight": 200, "redis_pool_size": s.redis_pool_size,
                           "api_redis_pool_size": 64}
    assert s.redis_pool_size > s.delivery_in_flight  # every pusher has a connection, and the rest theirs


@pytest.mark.parametrize("raw", ["0", "-1", "two", "257"])
def test_a_bad_number_of_processes_is_named(raw):
    with pytest.raises(ConfigError, match="SYNDICATION_DELIVERY_PROCESSES"):
        load_settings({"SYNDICATION_DELIVERY_PROCESSES": raw})


def test_the_retired_threads_variable_is_accepted_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="syndication.config"):
        s = load_settings({"SYNDICATION_DELIVERY_THREADS": "8"})
    assert "SYNDICATION_DELIVERY_THREADS is retired" in caplog.text
    assert list(s.retired) == ["SYNDICATION_DELIVERY_THREADS"]
    assert {w.concurrency for w in worker_specs(s)} == {s.worker_threads}  # it sizes nothing
