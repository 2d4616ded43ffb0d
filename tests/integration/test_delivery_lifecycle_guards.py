"""The status writes whose check runs in Redis (delivery/records.py, deadletters.py), on a real Redis.

A reload that cancels a partner's deliveries and a newer version that retires older ones write
without reading each record first: the lifecycle's step (lifecycle.py) is checked in the script,
so a record that finished meanwhile keeps its status, and an id left in the schedule whose record
has expired does not come back as a stub. The one make-due-again script refuses what its step
does not allow (enable: parked only). Nothing here sleeps.
"""

from __future__ import annotations

import pytest

from syndication.delivery import deadletters, lifecycle, records, schedule
from syndication.delivery.lifecycle import DeliveryStatus as S
from syndication.delivery.model import ARTICLE, Subject
from tests.support.pipeline import due, status

pytestmark = pytest.mark.integration
T = 1_900_000_000.0


def _create(ctx, partner: str, article: str, version: int = 1) -> str:
    did = records.create(ctx, partner, Subject(ARTICLE, article, version), f"evt-{article}-{version}",
                         "article.published", now=T)
    assert did is not None
    return did


def _set(ctx, did: str, step, was, to) -> None:
    pipe = ctx.redis.pipeline()
    records.set_status(pipe, ctx.keys, did, step, was, to, T)
    pipe.execute()


def test_a_cancelled_partner_keeps_its_finished_records_and_gets_no_stub_for_an_expired_one(ctx):
    waiting, finished = _create(ctx, "wire", "lc-1"), _create(ctx, "wire", "lc-2")
    _set(ctx, finished, lifecycle.SEND, S.PENDING, S.DELIVERED)  # recorded as its push answered
    ctx.redis.zadd(ctx.keys.partner_due("wire"), {"msg_expired": T})  # its record expired meanwhile
    assert records.cancel_partner(ctx, "wire", "partner removed", T + 1) == 1
    assert (status(ctx, waiting), status(ctx, finished)) == ("cancelled", "delivered")
    assert not ctx.redis.exists(ctx.keys.delivery("msg_expired"))
    assert due(ctx, "wire") == {} and schedule.DueSchedule(ctx, "wire").waiting_ids() == []
    assert records.get(ctx, waiting)["last_error"] == "partner removed"


def test_a_newer_version_retires_only_the_waiting_deliveries_of_older_ones(ctx):
    old, sent = _create(ctx, "wire", "lc-3", 1), _create(ctx, "economy", "lc-3", 1)
    _set(ctx, sent, lifecycle.SEND, S.PENDING, S.DELIVERED)
    assert records.retire(ctx, "lc-3", 2, withdrawn=False) == 1
    assert (status(ctx, old), status(ctx, sent)) == ("superseded", "delivered")
    assert old not in due(ctx, "wire")


def test_enabling_a_partner_makes_its_parked_deliveries_due_and_nothing_else(ctx):
    parked, dead = _create(ctx, "wire", "lc-4"), _create(ctx, "wire", "lc-5")
    pipe = ctx.redis.pipeline()
    for did, to in ((parked, S.PARKED), (dead, S.DEAD)):
        records.set_status(pipe, ctx.keys, did, lifecycle.SEND, S.PENDING, to, T)
        deadletters.queue_parked(pipe, ctx.keys, "wire", did, T)  # both listed: only one may go
    pipe.zrem(ctx.keys.partner_due("wire"), parked, dead)
    pipe.execute()
    assert deadletters.enable(ctx, "wire") == 1
    assert (status(ctx, parked), status(ctx, dead)) == ("pending", "dead")
    assert list(due(ctx, "wire")) == [parked]
    assert records.get(ctx, parked)["attempts_base"] == 0 and "finished_at" not in records.get(ctx, parked)
