"""The rate limiter (delivery/ratelimit.py) inside the claim, on a real redis-server with a made-up clock."""

from __future__ import annotations

import pytest

from syndication.configuration import load_settings
from syndication.delivery import ratelimit, schedule
from syndication.infra.context import Context
from syndication.ops import status
from syndication.partners.target import RateLimit, Target

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx(redis_url, unique):
    return Context.build(load_settings({"SYNDICATION_REDIS_URL": redis_url,
                                        "SYNDICATION_KEY_PREFIX": f"ratelimit-{unique}:"}))


def limited(per_second: float, burst: int, **kw) -> Target:
    return Target(id="p", url="https://p.example/", max_in_flight=2, batch_size=1000,
                  rate_limit=RateLimit(per_second=per_second, burst=burst), **kw)


def due(ctx, n: int, at: float = 0) -> None:
    ctx.redis.zadd(ctx.keys.partner_due("p"), {f"d{i}": at for i in range(n)})


def take(ctx, partner, now: float, slot: str = "s") -> schedule.Claim:
    """Claim, then end the batch at once (its slot free again: only the rate limit holds anything back)."""
    claim = schedule.claim(ctx, partner, f"{slot}{now}", now)
    ctx.redis.zrem(ctx.keys.partner_slots("p"), claim.slot)
    return claim


def test_burst_then_the_rate_and_when_to_come_back(ctx):
    p = limited(5, 5)  # one every 0.2 s, five at once
    due(ctx, 100)
    first = take(ctx, p, 1000.0)
    assert len(first[1]) == 5 and first.more == 0  # the burst; no other batch is invited to take more
    assert first.wake == pytest.approx(1000.2)  # the limiter says when the next may go
    held = take(ctx, p, 1000.1)
    assert held == ("throttled", []) and held.wake == pytest.approx(1000.2)
    assert ctx.redis.zcard(ctx.keys.partner_due("p")) == 95  # held back: still due, nothing in flight for it
    assert len(take(ctx, p, 1000.2)[1]) == 1
    assert len(take(ctx, p, 1001.2)[1]) == 5  # a second later: five more (never more than the burst)
    assert len(take(ctx, p, 1011.2)[1]) == 5  # a quiet spell earns no more than the burst
    state = ratelimit.state(ctx, "p", 1011.2)
    assert state["throttled"] is False


def test_sent_over_time_never_exceeds_rate_plus_burst(ctx):
    p = limited(5, 5)
    due(ctx, 1000)
    now, sent = 0.0, []
    while now < 20:
        claim = take(ctx, p, 5000 + now)
        sent += [now] * len(claim[1])
        now += 0.05
    assert len(sent) == pytest.approx(5 * 20 + 5, abs=1)  # the limit is reached, not merely respected
    for i, t0 in enumerate(sent):
        within = sum(1 for t in sent[i:] if t - t0 < 1.0)
        assert within <= 5 + 5  # any second: the rate, plus the burst


def test_throttled_claims_are_counted_and_shown(ctx):
    p = limited(1, 1)
    due(ctx, 3)
    assert len(take(ctx, p, 100.0)[1]) == 1
    assert take(ctx, p, 100.5)[0] == "throttled"
    assert ratelimit.state(ctx, "p", 100.5) == {"throttled": True, "until": pytest.approx(101.0)}
    assert ctx.redis.hget(ctx.keys.metric(ratelimit.THROTTLED), "partner=p") == b"1"
    shown = status.partner_status(ctx, p, 100.5)
    assert (shown["throttled"], shown["ready"], shown["rate_limit"]) == (True, 2, "1/1s, burst 1")
    assert shown["throttled_until"] == pytest.approx(101.0)
    assert ratelimit.state(ctx, "p", 101.5)["throttled"] is False  # past its time: not held back now


def test_no_limit_claims_everything_its_batch_allows(ctx):
    p = Target(id="p", url="https://p.example/", max_in_flight=1, batch_size=1000)
    due(ctx, 100)
    claim = take(ctx, p, 1.0)
    assert len(claim[1]) == 100 and claim.wake == 0
    assert not ctx.redis.exists(ctx.keys.partner_rate("p"))


def test_shared_by_every_claimer(ctx):
    """Two claimers (two processes, two hosts) share the one limit: the key is the partner's, not theirs."""
    p = limited(5, 5)
    due(ctx, 100)
    a = schedule.claim(ctx, p, "a", 10.0)
    b = schedule.claim(ctx, p, "b", 10.0)
    assert len(a[1]) + len(b[1]) == 5 and b[0] == "throttled"
