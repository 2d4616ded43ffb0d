"""Pushes in flight per deliveries process: a setting, and the Redis pool sized from it."""

from __future__ import annotations

import pytest
import redis

from syndication.configuration import load_settings
from syndication.errors import ConfigError
from syndication.infra.redis_client import connect_settings
from syndication.settings.model import DELIVERY_IN_FLIGHT


def test_pushes_in_flight_default_to_hundreds_and_follow_the_environment():
    assert load_settings({}).delivery_in_flight == DELIVERY_IN_FLIGHT >= 128
    assert load_settings({"SYNDICATION_DELIVERY_IN_FLIGHT": "300"}).delivery_in_flight == 300


@pytest.mark.parametrize("raw", ["0", "-1", "many", "5000"])
def test_a_bad_number_of_pushes_in_flight_names_the_variable(raw):
    with pytest.raises(ConfigError, match="SYNDICATION_DELIVERY_IN_FLIGHT"):
        load_settings({"SYNDICATION_DELIVERY_IN_FLIGHT": raw})


def test_the_redis_pool_waits_for_a_connection_and_holds_one_per_pusher_and_some():
    """redis-py's default pool raises "Too many connections" at 100 (STACK.md, trap 17)."""
    settings = load_settings({"SYNDICATION_DELIVERY_IN_FLIGHT": "300", "SYNDICATION_REDIS_URL": "redis://127.0.0.1:7000/0"})
    pool = connect_settings(settings).connection_pool
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert pool.max_connections == settings.redis_pool_size > 300
