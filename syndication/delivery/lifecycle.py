"""The lifecycle of a delivery: its states and the one table of steps that may change them.

    (created) --CREATE--> pending --SEND--> delivered | retrying | dead | parked
                                            | cancelled (a hub subscriber's, failed for good)
    pending | retrying --RETIRE--> superseded | cancelled      (a newer version, a withdrawal)
    pending | retrying --CANCEL--> cancelled                   (a reload removed the partner)
    dead | parked | retrying --REPLAY--> pending               (an operator; keeps the id)
    parked --ENABLE--> pending                                 (the partner is enabled again)
    anything but pending --FORCE--> pending                    (backfill --force, current version only)
    dead | parked --DISCARD--> discarded                       (an operator gives up)

Every status write checks its step here: in Python (`Step.check`, where the current status is
known: the push path read the record) and in Lua (the guarded scripts in records.py take their
source states and target from `Step.lua_sources` / `lua`, so no script spells a status). Nothing
here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from syndication.errors import SyndicationError


class DeliveryStatus(str, Enum):
    PENDING = "pending"  # due, waiting for a push
    RETRYING = "retrying"  # failed, next attempt scheduled
    DELIVERED = "delivered"  # partner answered 2xx
    DEAD = "dead"  # gave up or permanent failure: a dead letter, replayable
    PARKED = "parked"  # partner endpoint gone (410) or disabled: waits for re-enable
    SUPERSEDED = "superseded"  # a newer version reached or replaced it: not sent
    CANCELLED = "cancelled"  # article withdrawn before it was sent, or its partner removed
    DISCARDED = "discarded"  # a dead letter an operator gave up on (deadletters.discard)


S = DeliveryStatus
FINAL = frozenset({S.DELIVERED, S.DEAD, S.SUPERSEDED, S.CANCELLED, S.PARKED, S.DISCARDED})
# Finished for good: these expire after the retention. Dead and parked ones wait for an operator.
EXPIRING = frozenset({S.DELIVERED, S.SUPERSEDED, S.CANCELLED, S.DISCARDED})
WAITING = frozenset({S.PENDING, S.RETRYING})  # in the partner's schedule (due or in flight)


class InvalidTransition(SyndicationError):
    """A status write the lifecycle does not allow (a bug: the callers read the status first)."""


@dataclass(frozen=True)
class Step:
    """One way a delivery's status may change: from any of `sources` to any of `targets`."""

    name: str
    sources: frozenset[DeliveryStatus]
    targets: frozenset[DeliveryStatus]

    def allows(self, was: DeliveryStatus | str, to: DeliveryStatus | str) -> bool:
        return S(was) in self.sources and S(to) in self.targets

    def check(self, was: DeliveryStatus | str, to: DeliveryStatus | str) -> None:
        if not self.allows(was, to):
            raise InvalidTransition(f"{self.name}: a delivery may not go from {S(was).value} to {S(to).value}")

    def check_target(self, to: DeliveryStatus | str) -> None:
        """For a write guarded in Redis (the source is checked there): the target must be the step's."""
        if S(to) not in self.targets:
            raise InvalidTransition(f"{self.name}: a delivery may not go to {S(to).value}")

    def lua_sources(self, var: str = "status") -> str:
        """A Lua condition: `var` holds one of this step's source states."""
        return "(" + " or ".join(f"{var} == {lua(s)}" for s in sorted(self.sources, key=_order)) + ")"

    @property
    def target(self) -> DeliveryStatus:
        """The one target of a step that has one (the guarded scripts write it)."""
        (only,) = self.targets
        return only


def lua(status: DeliveryStatus) -> str:
    """A status as a Lua string literal."""
    return f"'{status.value}'"


def _order(s: DeliveryStatus) -> int:
    return list(S).index(s)


_ANY = frozenset(S)
CREATE = Step("create", frozenset(), frozenset({S.PENDING}))
# cancelled: a hub subscriber's delivery that failed for good (delivery/hub.py: no dead letter for a stranger's callback)
SEND = Step("send", WAITING, frozenset({S.DELIVERED, S.RETRYING, S.DEAD, S.PARKED, S.CANCELLED}))
RETIRE = Step("retire", WAITING, frozenset({S.SUPERSEDED, S.CANCELLED}))
CANCEL = Step("cancel", WAITING, frozenset({S.CANCELLED}))
REPLAY = Step("replay", frozenset({S.DEAD, S.PARKED, S.RETRYING}), frozenset({S.PENDING}))
ENABLE = Step("enable", frozenset({S.PARKED}), frozenset({S.PENDING}))
FORCE = Step("force", _ANY - {S.PENDING}, frozenset({S.PENDING}))
DISCARD = Step("discard", frozenset({S.DEAD, S.PARKED}), frozenset({S.DISCARDED}))
STEPS = (CREATE, SEND, RETIRE, CANCEL, REPLAY, ENABLE, FORCE, DISCARD)


def transitions() -> dict[DeliveryStatus, set[DeliveryStatus]]:
    """Every state and the states it may go to, by any step (docs and tests read it)."""
    out: dict[DeliveryStatus, set[DeliveryStatus]] = {s: set() for s in S}
    for step in STEPS:
        for was in step.sources:
            out[was] |= step.targets
    return out
