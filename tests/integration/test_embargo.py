"""Embargoes on real processes (issue 15): held until the instant, released by the sweep within 2 s.

- an article embargoed 3 s ahead: just before the instant it is in no feed, the `embargo: hold`
  partner has nothing, anonymous readers get 404 and key holders `status: embargoed`; the
  `embargo: send` partner has had it since it was posted, marked (ninjs `embargoed`); within 2 s
  of the instant the feed carries it and the hold partner has it, and the send partner got no
  second push;
- an update moving the embargo later: held past the first instant, released at the second;
  an update lifting it: out at once;
- a withdrawal during the embargo: the send partner gets the withdrawal, the hold partner nothing;
- on a service of this test's own: the events and deliveries workers killed (kill -9) before the
  instant and restarted after it; the release still lands within 2 s (feeds, pushes, pull API).

"Absent until then" is checked just before the instant, after a sentinel posted later has gone
all the way (so the absence is a finding, not a race); "present after" with timestamps.
Partners `embargo-hold` (json) and `embargo-send` (ninjs) are tests/support/config.py's, on the
category "Embargo" of their own.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
import requests
import yaml

from tests.conftest import OPS_KEY
from tests.support.events import article_event, withdrawal
from tests.support.processes import api, free_port, redis_server, start_all, stop_all, wait_for, worker
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration
OPS = {"Authorization": f"Bearer {OPS_KEY}"}
CATEGORY = ["Embargo"]
RELEASE_BOUND = 2.0  # seconds after the instant, the bound


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def same_instant(text: str, ts: float) -> bool:
    return abs(datetime.fromisoformat(text).timestamp() - ts) < 1e-3


def post(base: str, headers: dict, event: dict) -> None:
    resp = requests.post(f"{base}/v1/events", data=json.dumps(event), headers=headers, timeout=10)
    assert resp.status_code == 202, resp.text


def in_feed(base: str, aid: str, feed: str = "all") -> bool:
    resp = requests.get(f"{base}/feeds/{feed}.json", timeout=5)
    return resp.ok and any(item["id"].endswith(f":{aid}") for item in resp.json()["items"])


def pushes(receiver: Receiver, aid: str) -> list:
    return receiver.for_article(aid)


def until_clock(ts: float) -> None:
    """Wait for the wall clock to reach `ts` (an instant the test is about, not a guess at a delay)."""
    while time.time() < ts:
        time.sleep(min(0.02, max(0.0, ts - time.time())))


def embargoed(aid: str, instant: float, version: int = 1, **article) -> dict:
    return article_event(aid, version, categories=CATEGORY, embargoed=iso(instant), **article)


def aid_of(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_held_until_the_instant_then_released_within_two_seconds(service):
    base, hold, send = service.api_url, service.partners["embargo-hold"], service.partners["embargo-send"]
    aid, instant = aid_of("emb"), time.time() + 3
    post(base, service.headers(), embargoed(aid, instant))
    # The send partner has it at once, marked in its format (ninjs 2.2 `embargoed`).
    got = wait_for(lambda: pushes(send, aid), timeout=RELEASE_BOUND, what="send partner's push")
    doc = json.loads(got[0].body)
    assert doc["embargoed"] == iso(instant) and doc["pubstatus"] == "usable", doc
    assert got[0].at < instant

    # A sentinel posted after it (same partners, no embargo) goes all the way first...
    sentinel = aid_of("emb-sentinel")
    post(base, service.headers(), article_event(sentinel, categories=CATEGORY))
    wait_for(lambda: pushes(hold, sentinel) and in_feed(base, sentinel), timeout=RELEASE_BOUND,
             what="sentinel pushed and in the feed")
    # ... so, just before the instant, the embargoed one's absence is a finding.
    until_clock(instant - 0.4)
    assert not in_feed(base, aid) and not pushes(hold, aid)
    assert requests.get(f"{base}/v1/articles/{aid}", timeout=5).status_code == 404  # anonymous
    state = requests.get(f"{base}/v1/articles/{aid}", headers=OPS, timeout=5).json()
    assert state["status"] == "embargoed" and same_instant(state["embargoed"], instant), state
    checked_at = time.time()
    assert checked_at < instant, "the absence check ran late: the test machine is too slow for this test"

    wait_for(lambda: in_feed(base, aid), timeout=instant + RELEASE_BOUND - time.time(), what="in the feed")
    in_feed_at = time.time()
    released = wait_for(lambda: pushes(hold, aid), timeout=instant + RELEASE_BOUND - time.time(),
                        what="hold partner's push")
    assert instant <= released[0].at <= instant + RELEASE_BOUND, (released[0].at - instant)
    assert in_feed_at <= instant + RELEASE_BOUND
    assert requests.get(f"{base}/v1/articles/{aid}", timeout=5).json()["status"] == "published"
    # Nothing again for the send partner: its delivery of version 1 existed before the release. A
    # push made at the release would have been due before a sentinel posted now (one partner's
    # deliveries go out in due order), so once the sentinel is there, its absence is a finding.
    after = aid_of("emb-after")
    post(base, service.headers(), article_event(after, categories=CATEGORY))
    wait_for(lambda: pushes(send, after), timeout=RELEASE_BOUND, what="sentinel at the send partner")
    records = requests.get(f"{base}/v1/deliveries", params={"article_id": aid}, headers=OPS,
                           timeout=5).json()["deliveries"]
    assert sorted(d["partner"] for d in records if d["partner"].startswith("embargo-")) == \
        ["embargo-hold", "embargo-send"]
    assert len(pushes(send, aid)) == 1


def test_an_update_moves_the_embargo_and_another_lifts_it(service):
    base, hold = service.api_url, service.partners["embargo-hold"]
    moved, lifted, marker = aid_of("emb-moved"), aid_of("emb-lifted"), aid_of("emb-marker")
    first, later = time.time() + 3, time.time() + 6
    post(base, service.headers(), embargoed(moved, first))
    post(base, service.headers(), embargoed(marker, first))  # released at the first instant
    post(base, service.headers(), embargoed(lifted, time.time() + 3600))
    post(base, service.headers(), embargoed(moved, later, version=2))
    wait_for(lambda: requests.get(f"{base}/v1/articles/{moved}", headers=OPS, timeout=5).json()["version"] == 2,
             what="the move applied")

    # Lifted: an update without `embargoed` goes out the normal way, at once.
    post(base, service.headers(), article_event(lifted, 2, categories=CATEGORY))
    wait_for(lambda: pushes(hold, lifted) and in_feed(base, lifted), timeout=RELEASE_BOUND, what="lifted: out")
    assert [json.loads(r.body)["article"]["version"] for r in pushes(hold, lifted)] == [2]
    assert service.ctx.redis.zscore(service.ctx.keys.embargo_due, lifted) is None

    # The first instant passes: the marker is released, the moved article stays held...
    wait_for(lambda: pushes(hold, marker) and in_feed(base, marker), timeout=first + RELEASE_BOUND - time.time(),
             what="marker released at the first instant")
    assert not pushes(hold, moved) and not in_feed(base, moved)
    assert time.time() < later
    # ... until the later one.
    got = wait_for(lambda: pushes(hold, moved), timeout=later + RELEASE_BOUND - time.time(), what="moved: released")
    assert later <= got[0].at <= later + RELEASE_BOUND
    assert json.loads(got[0].body)["article"]["version"] == 2
    wait_for(lambda: in_feed(base, moved), timeout=later + RELEASE_BOUND - time.time(), what="moved: in the feed")


def test_a_withdrawal_during_the_embargo_reaches_only_the_send_partner(service):
    base, hold, send = service.api_url, service.partners["embargo-hold"], service.partners["embargo-send"]
    aid, marker, instant = aid_of("emb-wd"), aid_of("emb-wd-marker"), time.time() + 3
    post(base, service.headers(), embargoed(aid, instant))
    post(base, service.headers(), embargoed(marker, instant))
    wait_for(lambda: pushes(send, aid), timeout=RELEASE_BOUND, what="send partner's push")
    assert service.ctx.redis.zscore(service.ctx.keys.embargo_due, aid) is not None
    post(base, service.headers(), withdrawal(aid, 2))
    got = wait_for(lambda: [r for r in pushes(send, aid) if json.loads(r.body)["pubstatus"] == "canceled"],
                   timeout=RELEASE_BOUND, what="withdrawal at the send partner")
    assert json.loads(got[0].body)["version"] == "2"
    assert service.ctx.redis.zscore(service.ctx.keys.embargo_due, aid) is None  # nothing left to release
    # After the instant (the marker's release shows the sweep has been there), the hold partner
    # has heard nothing of it, and no feed carries it.
    wait_for(lambda: pushes(hold, marker), timeout=instant + RELEASE_BOUND - time.time(), what="marker released")
    assert not pushes(hold, aid) and not in_feed(base, aid)
    assert not [d for d in requests.get(f"{base}/v1/deliveries", params={"article_id": aid}, headers=OPS,
                                        timeout=5).json()["deliveries"] if d["partner"] == "embargo-hold"]
    assert requests.get(f"{base}/v1/articles/{aid}", headers=OPS, timeout=5).json()["status"] == "withdrawn"


def test_release_survives_killed_events_and_deliveries_workers(tmp_path):
    """A service of this test's own: killing workers must not disturb the shared one's tests."""
    store = redis_server(tmp_path).start()
    hold, send = Receiver.start(), Receiver.start()
    key, token, port = f"emb-key-{uuid.uuid4().hex[:8]}", f"emb-pull-{uuid.uuid4().hex}", free_port()
    partners_file, feeds_file = tmp_path / "partners.yaml", tmp_path / "feeds.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": [
        {"id": "hold", "url": hold.url, "format": "json", "allow_private_network": True,
         "pull": {"token_env": "EMB_PULL_TOKEN"}},
        {"id": "send", "url": send.url, "format": "json", "allow_private_network": True, "embargo": "send"}]}))
    feeds_file.write_text(yaml.safe_dump({"feeds": [{"name": "all", "title": "All", "language": "en"}]}))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
           "SYNDICATION_REDIS_URL": f"redis://127.0.0.1:{store.port}/0", "SYNDICATION_KEY_PREFIX": "emb:",
           "SYNDICATION_API_KEYS": key, "SYNDICATION_PARTNERS_FILE": str(partners_file),
           "SYNDICATION_FEEDS_FILE": str(feeds_file), "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}",
           "EMB_PULL_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    procs = {"api": api(env, tmp_path, port), "events": worker("events", env, tmp_path),
             "feeds": worker("feeds", env, tmp_path, concurrency=2), "deliveries": worker("deliveries", env, tmp_path)}

    def pulled(aid: str) -> bool:
        resp = requests.get(f"{base}/v1/partners/hold/items", headers={"Authorization": f"Bearer {token}"},
                            params={"limit": 500}, timeout=5)
        assert resp.status_code == 200, resp.text
        return any(item["article_id"] == aid for item in resp.json()["items"])

    try:
        start_all(procs.values())  # cold starts overlap
        aid, sentinel, instant = aid_of("emb-kill"), aid_of("emb-kill-sentinel"), time.time() + 4
        post(base, headers, embargoed(aid, instant))
        marked = json.loads(wait_for(lambda: send.for_article(aid), timeout=RELEASE_BOUND,
                                     what="send partner's push")[0].body)["article"]["embargoed"]
        assert same_instant(marked, instant)  # json: the field in the article
        post(base, headers, article_event(sentinel))
        wait_for(lambda: hold.for_article(sentinel) and in_feed(base, sentinel) and pulled(sentinel),
                 timeout=10, what="sentinel everywhere")
        assert not hold.for_article(aid) and not in_feed(base, aid) and not pulled(aid)
        procs["events"].kill()
        procs["deliveries"].kill()
        assert time.time() < instant - 0.2, "too slow to kill before the instant"
        assert not in_feed(base, aid) and not pulled(aid)
        until_clock(instant + 0.1)
        # Both restarts run beside the wait below (a worker takes a second or more to be ready): the
        # feeds worker's sweep releases the story whatever the other two are doing, and the bound
        # is about the release, not about how fast Celery starts.
        with ThreadPoolExecutor(2) as pool:
            restarts = [pool.submit(procs[name].start) for name in ("events", "deliveries")]
            wait_for(lambda: in_feed(base, aid) and pulled(aid), timeout=instant + RELEASE_BOUND - time.time(),
                     what="feed and pull API after the release")
            for restart in restarts:
                restart.result()
        # The hold partner's push needs a deliveries worker: nothing can push while none runs, so its
        # bound counts from the moment both workers are back (at once on a quiet machine; seconds
        # later where Celery starts slowly under load), never from before the instant.
        back = max(time.time(), instant)
        got = wait_for(lambda: hold.for_article(aid), timeout=back + RELEASE_BOUND - time.time(),
                       what="hold partner's push after the restart")
        assert instant <= got[0].at <= back + RELEASE_BOUND, (got[0].at - instant, back - instant)
        assert len(send.for_article(aid)) == 1  # nothing again at release
    finally:
        stop_all(procs.values())
        store.stop()
        hold.stop()
        send.stop()
