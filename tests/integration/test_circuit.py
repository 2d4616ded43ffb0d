"""Circuit breaker and in-flight slots on a real redis-server (state shared by all workers)."""

from __future__ import annotations

import pytest

from syndication.infra.context import Context
from syndication.delivery import circuit, deadletters, push
from syndication.partners.target import Target
from syndication.configuration import load_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx(redis_url, unique):
    return Context.build(load_settings({"SYNDICATION_REDIS_URL": redis_url,
                                            "SYNDICATION_KEY_PREFIX": f"circuit-{unique}:"}))


PARTNER = Target(id="p", url="https://p.example/", breaker_threshold=3, breaker_cooldown=10, max_in_flight=2)


def test_opens_after_threshold_then_one_half_open_probe(ctx):
    for _ in range(2):
        assert circuit.observe(ctx, PARTNER, success=False, now=100) == "closed"
    assert circuit.observe(ctx, PARTNER, success=False, now=100) == "opened"  # closed -> open: an incident starts
    assert not circuit.may_send(ctx, PARTNER, 105)
    assert circuit.may_send(ctx, PARTNER, 111, take=False)  # looking takes nothing
    assert circuit.may_send(ctx, PARTNER, 111)  # the probe
    assert not circuit.may_send(ctx, PARTNER, 111.5)  # only one probe per cool-down
    assert circuit.observe(ctx, PARTNER, success=False, now=112) == "open"  # probe failed: open again
    assert not circuit.may_send(ctx, PARTNER, 115)
    assert circuit.may_send(ctx, PARTNER, 123)
    assert circuit.observe(ctx, PARTNER, success=True, now=123) == "closed"
    assert circuit.may_send(ctx, PARTNER, 123.1)
    h = circuit.health(ctx, "p")
    assert h["opened_count"] == "1" and "failing_since" not in h  # incidents: a failed probe continues the one open


def test_pause_and_disable(ctx):
    circuit.pause(ctx, "p")
    assert not circuit.may_send(ctx, PARTNER, 1)
    circuit.resume(ctx, "p")
    assert circuit.may_send(ctx, PARTNER, 1)
    pipe = ctx.redis.pipeline()
    circuit.disable(pipe, ctx.keys, "p", 1, "410")
    pipe.execute()
    assert not circuit.may_send(ctx, PARTNER, 1)
    deadletters.enable(ctx, "p")
    assert circuit.may_send(ctx, PARTNER, 1)


def test_in_flight_slots_are_limited_and_expire(ctx):
    ctx.redis.zadd(ctx.keys.partner_due("p"), {f"d{i}": 1 for i in range(200)})  # batches of 50
    assert push.begin(ctx, PARTNER, "a", 100)[1] and push.begin(ctx, PARTNER, "b", 100)[1]
    assert push.begin(ctx, PARTNER, "c", 100) == ("busy", [])  # max_in_flight 2
    ctx.redis.zrem(ctx.keys.partner_slots("p"), "a")  # batch a ended
    assert push.begin(ctx, PARTNER, "c", 100)[1]
    assert push.begin(ctx, PARTNER, "d", 100 + 1000)[1]  # the slots of dead workers expire


def test_a_batch_claims_nothing_from_a_paused_disabled_or_cooling_partner(ctx):
    ctx.redis.zadd(ctx.keys.partner_due("p"), {"d1": 1})
    circuit.pause(ctx, "p")
    assert push.begin(ctx, PARTNER, "a", 100) == ("paused", [])
    circuit.resume(ctx, "p")
    for _ in range(PARTNER.breaker_threshold):
        circuit.observe(ctx, PARTNER, success=False, now=100)
    assert push.begin(ctx, PARTNER, "a", 105) == ("cooling", [])
    assert push.begin(ctx, PARTNER, "a", 111) == ("open", ["d1"])  # the half-open probe, taken
    assert circuit.health(ctx, "p")["state"] == "half_open"
    assert push.begin(ctx, PARTNER, "b", 112) == ("cooling", [])  # one probe per cool-down

def test_a_wave_claims_for_many_partners_in_one_script_each_by_its_own_rules(ctx):
    from syndication.delivery import schedule

    other = Target(id="q", url="https://q.example/", max_in_flight=1)
    third = Target(id="r", url="https://r.example/", max_in_flight=4)
    for pid, n in (("p", 3), ("q", 2), ("r", 1)):
        ctx.redis.zadd(ctx.keys.partner_due(pid), {f"{pid}{i}": 1 for i in range(n)})
    circuit.pause(ctx, "q")
    first = schedule.claim_many(ctx, [(PARTNER, "a"), (other, "b"), (third, "c")], 100)
    assert [tuple(c) for c in first] == [("closed", ["p0", "p1"]), ("paused", []), ("closed", ["r0"])]
    assert [c.more for c in first] == [1, 0, 0]  # p: 3 due over 2 free slots, one more batch could start now
    assert ctx.redis.zscore(ctx.keys.partners_ready, "p") is not None
    circuit.resume(ctx, "q")
    second = schedule.claim_many(ctx, [(PARTNER, "a2"), (other, "b2"), (PARTNER, "a3")], 100)
    assert [tuple(c) for c in second] == [("closed", ["p2"]), ("closed", ["q0", "q1"]), ("busy", [])]
    assert [c.slot for c in second] == ["a2", "b2", "a3"]
