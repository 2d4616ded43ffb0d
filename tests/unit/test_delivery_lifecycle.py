"""The delivery lifecycle table and the delivery's subject (pure: no Redis)."""

from __future__ import annotations

import pytest

from syndication.delivery import lifecycle, model
from syndication.delivery.lifecycle import DeliveryStatus as S
from syndication.delivery.lifecycle import InvalidTransition
from syndication.delivery.records import LUA, sources
from syndication.errors import SyndicationError


@pytest.mark.parametrize("step, was, to", [
    (lifecycle.SEND, S.PENDING, S.DELIVERED), (lifecycle.SEND, S.RETRYING, S.DEAD),
    (lifecycle.RETIRE, S.RETRYING, S.SUPERSEDED), (lifecycle.CANCEL, S.PENDING, S.CANCELLED),
    (lifecycle.REPLAY, S.DEAD, S.PENDING), (lifecycle.REPLAY, S.RETRYING, S.PENDING),
    (lifecycle.ENABLE, S.PARKED, S.PENDING), (lifecycle.FORCE, S.DELIVERED, S.PENDING),
    (lifecycle.DISCARD, S.PARKED, S.DISCARDED),
])
def test_the_steps_the_table_allows(step, was, to):
    step.check(was, to)


@pytest.mark.parametrize("step, was, to", [
    (lifecycle.SEND, S.DELIVERED, S.DELIVERED),  # a finished delivery is never sent again by a push
    (lifecycle.RETIRE, S.DELIVERED, S.SUPERSEDED),  # a newer version never rewrites a delivered record
    (lifecycle.REPLAY, S.DELIVERED, S.PENDING),  # replay never makes a finished delivery pending
    (lifecycle.FORCE, S.PENDING, S.PENDING),  # already due
    (lifecycle.ENABLE, S.DEAD, S.PENDING),  # enabling a partner replays its parked ones, not dead letters
    (lifecycle.DISCARD, S.RETRYING, S.DISCARDED),  # not a dead letter
    (lifecycle.SEND, S.PENDING, S.SUPERSEDED),  # a push's outcome is never "superseded"
])
def test_the_steps_the_table_refuses_raise_a_domain_error(step, was, to):
    with pytest.raises(InvalidTransition):
        step.check(was, to)
    assert issubclass(InvalidTransition, SyndicationError)


def test_every_state_but_discarded_and_delivered_has_a_way_on_and_pending_is_reached_again():
    moves = lifecycle.transitions()
    assert moves[S.PENDING] >= {S.DELIVERED, S.RETRYING, S.DEAD, S.PARKED, S.SUPERSEDED, S.CANCELLED}
    assert moves[S.DEAD] == {S.PENDING, S.DISCARDED}
    assert moves[S.DISCARDED] == {S.PENDING}  # only backfill --force
    assert {s for s, to in moves.items() if S.PENDING in to} == set(S) - {S.PENDING}


def test_the_lua_guards_take_their_states_from_the_table():
    assert lifecycle.REPLAY.lua_sources() == "(status == 'retrying' or status == 'dead' or status == 'parked')"
    assert sources(lifecycle.DISCARD) == "dead parked"
    assert "'pending'" in LUA  # record_again writes the step's target, generated from the enum


def _hash(**fields) -> dict:
    base = {"id": "msg_1", "partner": "p", "article_id": "a-1", "version": "3", "event_id": "e",
            "status": "pending", **fields}
    return {k.encode(): str(v).encode() for k, v in base.items()}


@pytest.mark.parametrize("fields, kind", [
    ({"event_type": "article.updated"}, model.ARTICLE),
    ({"event_type": "websub.publish"}, model.WEBSUB),  # stored before `kind`: read from the event type
    ({"event_type": "ops.notice"}, model.NOTICE),
    ({"event_type": "ops.notice", "kind": "notice"}, model.NOTICE),
    ({"event_type": "article.updated", "kind": "article"}, model.ARTICLE),
])
def test_a_delivery_names_its_subject_old_records_included(fields, kind):
    d = model.Delivery.from_hash(_hash(**fields))
    assert d.subject == model.Subject(kind, "a-1", 3)


def test_a_write_guarded_in_redis_still_checks_its_target_here():
    lifecycle.CANCEL.check_target(S.CANCELLED)
    with pytest.raises(InvalidTransition):
        lifecycle.CANCEL.check_target(S.DELIVERED)  # a reload never marks anything delivered
