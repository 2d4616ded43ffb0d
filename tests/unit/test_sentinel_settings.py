"""SYNDICATION_REDIS_SENTINELS / _MASTER / _MIN_REPLICAS: parsed once, and what Celery's broker gets."""

from __future__ import annotations

import pytest

from syndication.configuration import load_settings
from syndication.errors import ConfigError
from syndication.infra.redis_client import broker_sentinel_options, broker_url


def test_sentinels_give_kombus_sentinel_transport_with_the_urls_db_and_password():
    s = load_settings({"SYNDICATION_REDIS_URL": "redis://:p%40ss@ignored:7000/3",
                       "SYNDICATION_REDIS_SENTINELS": "s1:26379, s2:26380,s3", "SYNDICATION_REDIS_MASTER": "news",
                       "SYNDICATION_REDIS_MIN_REPLICAS": "1", "SYNDICATION_REDIS_REPLICA_TIMEOUT": "0.25"})
    assert s.redis_sentinels == (("s1", 26379), ("s2", 26380), ("s3", 26379))
    assert (s.redis_master, s.redis_min_replicas, s.redis_replica_timeout) == ("news", 1, 0.25)
    assert broker_url(s) == ("sentinel://:p%40ss@s1:26379/3;sentinel://:p%40ss@s2:26380/3;"
                             "sentinel://:p%40ss@s3:26379/3")
    assert broker_sentinel_options(s)["master_name"] == "news"


def test_without_sentinels_the_broker_is_the_url():
    s = load_settings({"SYNDICATION_REDIS_URL": "redis://127.0.0.1:7000/2"})
    assert (broker_url(s), broker_sentinel_options(s), s.redis_min_replicas) == ("redis://127.0.0.1:7000/2", {}, 0)


@pytest.mark.parametrize("env", [{"SYNDICATION_REDIS_SENTINELS": "s1:port"},
                                 {"SYNDICATION_REDIS_SENTINELS": ":26379"},
                                 {"SYNDICATION_REDIS_MIN_REPLICAS": "one"}])
def test_bad_values_name_the_variable(env):
    with pytest.raises(ConfigError, match=next(iter(env))):
        load_settings(env)
