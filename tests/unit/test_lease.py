"""A delivery's lease outlives any request to its partner, whatever the partner's timeouts."""

from __future__ import annotations

import pytest

from syndication.delivery.schedule import lease_seconds
from syndication.partners.target import Target


@pytest.mark.parametrize("connect,read", [(3, 10), (60, 300), (0.5, 0.5), (10, 120)])
def test_the_lease_is_longer_than_the_slowest_request(connect, read):
    partner = Target(id="p", url="https://partner.example/in", timeouts={"connect": connect, "read": read})
    # A lease shorter than connect + read hands a delivery still in flight to a second worker.
    assert lease_seconds(partner) >= connect + read + 5
