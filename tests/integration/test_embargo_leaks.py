"""Embargoed versions never leak through a withdrawal (issue 22, item 1), on real processes.

A service of this module's own (tests/support/leaks.py): `embargo: hold` partners in every push
format (json, ninjs, ninjs3, atom, rss, newsml-g2), `embargo: send` partners, every one with a pull token,
public feeds and a partner feed. Embargoes are an hour ahead, so nothing is released during
the test: a held version is released only to the send partners.

- a story embargoed and withdrawn before its release: no hold partner hears of it (no push, no
  pull item, not its id, headline or URL), no feed carries it, an anonymous
  `GET /v1/articles/{id}` answers 404 (the route promises it for a story never public); the
  send partners, which had the held version, get the withdrawal;
- a story public (v1), updated under embargo (v2), then withdrawn (v3): the hold partners'
  tombstones (pushed in each format, and in their pull streams) are built from v1 (or carry
  ids only), never from the held v2; feeds and the anonymous read hold nothing of v2 either;
  the send partners get the withdrawal (they may see v2: it was released to them).

"Nothing reached them" is asserted after `settle`: a sentinel posted after the sequence has
reached every hold partner, pull stream and feed, and every delivery record of the story is final.
"""

from __future__ import annotations

import uuid

import pytest

from tests.support import leaks
from tests.support.events import withdrawal
from tests.support.leaks import HOLD, HOUR, SEND, version_event
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(redis_url, tmp_path_factory):
    yield from leaks.running(redis_url, tmp_path_factory.mktemp("embargo-leaks"))


def fresh() -> str:
    return uuid.uuid4().hex[:16]


def is_withdrawal(body: str) -> bool:
    """A tombstone, in any of the formats (json, ninjs, ninjs3, atom, rss, newsml-g2)."""
    return any(sign in body for sign in ('"article.withdrawn"', '"canceled"', "deleted-entry", "Withdrawn:",
                                         "stat:canceled"))


def test_a_story_embargoed_and_withdrawn_before_release_reaches_no_hold_partner_and_no_reader(world):
    aid, marker = f"leak-{fresh()}", fresh()
    world.apply(version_event(aid, 1, "HELD-v1", marker, embargo=HOUR))
    for pid in SEND:  # released to them: they have it, marked
        wait_for(lambda: world.pushes(pid, marker), 15, what=f"held version at {pid}")
    world.apply(withdrawal(aid, 2))
    for pid in SEND:  # ... so they hear of its withdrawal
        wait_for(lambda: [b for b in world.pushes(pid, aid) if is_withdrawal(b)], 15, what=f"withdrawal at {pid}")
    world.settle([aid])

    anonymous = world.read_anonymously(aid)
    found = world.leaks(world.hold_views(), [aid, marker])
    if anonymous.status_code != 404:
        found.append(f"anonymous GET /v1/articles/{aid}: {anonymous.status_code} {anonymous.text}")
    assert not found, "a story never released reached hold partners or readers:\n" + "\n".join(found)


def test_a_public_story_updated_under_embargo_then_withdrawn_tombstones_only_the_public_version(world):
    aid, public, held = f"leak-{fresh()}", fresh(), fresh()  # v1's marker, v2's marker
    world.apply(version_event(aid, 1, "PUBLIC-v1", public))
    wait_for(lambda: all(world.pushes(pid, public) for pid in [*HOLD, *SEND]), 15, what="v1 pushed to everyone")
    world.apply(version_event(aid, 2, "HELD-v2", held, embargo=HOUR))
    for pid in SEND:
        wait_for(lambda: world.pushes(pid, held), 15, what=f"held v2 at {pid}")
    world.apply(withdrawal(aid, 3))
    # Every hold partner had v1, so each gets a tombstone (a second push about the story).
    wait_for(lambda: all(len(world.pushes(pid, aid)) >= 2 for pid in HOLD), 15, what="a tombstone at every hold partner")
    for pid in SEND:
        wait_for(lambda: [b for b in world.pushes(pid, aid) if is_withdrawal(b)], 15, what=f"withdrawal at {pid}")
    world.settle([aid])

    found = world.leaks(world.hold_views(anonymous_reads=[aid]), [f"HELD-v2-{held}", held])
    assert not found, "the held v2 reached hold partners or readers:\n" + "\n".join(found)
    # They did hear of the withdrawal: one tombstone each, pushed and in the pull stream.
    for pid in HOLD:
        tombstones = world.pushes(pid, aid)[1:]
        assert len(tombstones) == 1 and is_withdrawal(tombstones[0]), (pid, tombstones)
        assert [i["type"] for i in world.pulled[pid] if i["article_id"] == aid] == ["published", "withdrawn"], pid
