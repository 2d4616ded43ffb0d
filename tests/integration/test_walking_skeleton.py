"""One article's life, end to end, on a real redis-server, real Celery workers and real HTTP.

published (v1) -> updated (v2) -> repeat of v1 -> stale v1 under a new id -> withdrawn (v3)
"""

from __future__ import annotations

import json
import re

import feedparser
import jsonschema
import pytest
import requests

from tests.conftest import OPS_KEY
from tests.integration.test_feeds import JSONFEED_SCHEMA, fetch, parse, rendered_after
from tests.support.events import article_event, withdrawal
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


def post(service, event: dict) -> requests.Response:
    return requests.post(f"{service.api_url}/v1/events", data=json.dumps(event), headers=service.headers(), timeout=10)


def feed(service, fmt: str):
    """The 'all' feed parsed; None only while it awaits its first render (see test_feeds.fetch)."""
    resp = fetch(service, "all", fmt)
    return None if resp is None else parse(resp, fmt)


def entry(parsed, article_id: str):
    if parsed is None:
        return None
    return next((e for e in parsed.entries if e.get("link", "").endswith(article_id)), None)


def deliveries(service, aid: str) -> list[dict]:
    resp = requests.get(f"{service.api_url}/v1/deliveries", params={"article_id": aid},
                        headers={"Authorization": f"Bearer {OPS_KEY}"}, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()["deliveries"]


def article(service, article_id: str) -> dict | None:
    resp = requests.get(f"{service.api_url}/v1/articles/{article_id}", timeout=5)
    return resp.json() if resp.status_code == 200 else None


def test_article_lifecycle_end_to_end(service, unique):
    aid = f"e2e-{unique}"
    partner = service.partners["partner-a"]

    # v1: accepted, applied, in both feeds, pushed once.
    v1 = article_event(aid, 1)
    resp = post(service, v1)
    assert resp.status_code == 202
    assert resp.json() == {"event_id": v1["event_id"], "status": "accepted"}
    state = wait_for(lambda: article(service, aid), what="article v1 stored")
    assert state["version"] == 1 and state["status"] == "published"
    for fmt in ("rss", "atom"):
        e = wait_for(lambda: entry(feed(service, fmt), aid), what=f"v1 in {fmt}")
        assert e.title == f"Headline {aid} v1"
    wait_for(lambda: len(partner.for_article(aid)) == 1, what="v1 pushed")
    first = partner.for_article(aid)[0]
    body = json.loads(first.body)
    assert body["article"]["version"] == 1 and body["type"] == "article.published"
    assert first.headers["webhook-id"].startswith("msg_")

    # v2 replaces v1 everywhere.
    assert post(service, article_event(aid, 2)).status_code == 202
    wait_for(lambda: (article(service, aid) or {}).get("version") == 2, what="v2 stored")
    for fmt in ("rss", "atom"):
        e = wait_for(lambda: (x := entry(feed(service, fmt), aid)) and x.summary == f"Summary {aid} v2" and x,
                     what=f"v2 summary in {fmt}")
        assert e.title == f"Headline {aid} v2"
    wait_for(lambda: len(partner.for_article(aid)) == 2, what="v2 pushed")
    assert json.loads(partner.for_article(aid)[1].body)["article"]["version"] == 2
    assert len({r.webhook_id for r in partner.for_article(aid)}) == 2

    # Re-sending the first event: 200, same body, nothing changes.
    again = post(service, v1)
    assert again.status_code == 200
    assert again.json() == {"event_id": v1["event_id"], "status": "accepted"}

    # A stale v1 under a new event id: accepted, recorded stale, changes nothing.
    stale = article_event(aid, 1, event_id=f"evt-{aid}-stale")
    assert post(service, stale).status_code == 202
    ctx = service.ctx
    wait_for(lambda: ctx.redis.hget(ctx.keys.event(stale["event_id"]), "status") == b"stale", what="stale recorded")
    assert article(service, aid)["version"] == 2
    assert entry(feed(service, "rss"), aid).title == f"Headline {aid} v2"

    # Withdrawal: gone from both feeds (read from a render after it); the partner that had it hears of it.
    gone = withdrawal(aid, 3)
    assert post(service, gone).status_code == 202
    for (name, fmt), ids in rendered_after(service, gone, [("all", "rss"), ("all", "atom")]).items():
        assert aid not in ids, f"withdrawn {aid} still in {name}.{fmt}"
    assert article(service, aid)["status"] == "withdrawn"
    wait_for(lambda: len(partner.for_article(aid)) == 3, what="withdrawal pushed")
    assert json.loads(partner.for_article(aid)[2].body)["type"] == "article.withdrawn"
    # Exactly one request per version: nothing was pushed twice.
    assert [json.loads(r.body)["article"]["version"] for r in partner.for_article(aid)] == [1, 2, 3]
    mine = {d["version"]: d for d in deliveries(service, aid) if d["partner"] == "partner-a"}
    assert {v: (d["status"], d["attempts"]) for v, d in mine.items()} == {v: ("delivered", 1) for v in (1, 2, 3)}


def test_partner_filters_decide_who_gets_a_push(service, unique):
    econ = service.partners["economy-desk"]
    sport_id, econ_id = f"sport-{unique}", f"econ-{unique}"
    post(service, article_event(sport_id, categories=["Sport"]))
    post(service, article_event(econ_id, categories=["Economy"]))
    wait_for(lambda: len(econ.for_article(econ_id)) == 1, what="economy push")
    wait_for(lambda: len(service.partners["partner-a"].for_article(sport_id)) == 1, what="partner-a push")
    # The sport article's fan-out is done (partner-a got it), and it made no delivery for the economy desk:
    # nothing is on its way there, so the empty request log below is not a race.
    assert [d["partner"] for d in deliveries(service, sport_id)] == ["partner-a"]
    assert econ.for_article(sport_id) == []


def test_deliveries_history_lists_attempts(service, unique):
    aid = f"hist-{unique}"
    post(service, article_event(aid))
    wait_for(lambda: len(service.partners["partner-a"].for_article(aid)) == 1, what="push")
    url = f"{service.api_url}/v1/deliveries"
    assert requests.get(url, params={"article_id": aid}, timeout=5).status_code == 401
    ops = {"Authorization": f"Bearer {OPS_KEY}"}
    # The article goes to other partners too (economy-desk): wait for partner-a's record, not the first one.
    deliveries = wait_for(lambda: [d for d in requests.get(url, params={"article_id": aid}, headers=ops,
                                                           timeout=5).json()["deliveries"]
                                   if d["status"] == "delivered" and d["partner"] == "partner-a"],
                          what="partner-a's delivered record")
    assert len(deliveries) == 1
    assert deliveries[0]["attempt_log"][0]["status"] == 200


def test_each_task_runs_only_on_its_own_queue(service, unique):
    aid = f"route-{unique}"
    post(service, article_event(aid))
    wait_for(lambda: len(service.partners["partner-a"].for_article(aid)) == 1, what="push")
    logs = {q: service.procs[q].log.read_text(errors="replace") for q in ("events", "feeds", "deliveries")}
    # Pushes need no message: the deliveries worker's pumps take ready partners from Redis.
    expected = {"events": "syndication.apply_events", "feeds": "syndication.render_feed",
                "deliveries": "syndication.push_batch"}
    for queue, log in logs.items():
        for other_queue, task in expected.items():
            received = re.search(rf"Task {re.escape(task)}\[[^\]]+\] received", log) is not None
            assert received == (queue == other_queue != "deliveries"), f"{task} seen on the {queue} worker"


def test_every_configured_feed_is_rendered_without_events(service):
    # 'kk' gets no articles from these tests: it is rendered because it is configured.
    for fmt in ("rss", "atom", "json"):
        resp = wait_for(lambda: (r := requests.get(f"{service.api_url}/feeds/kk.{fmt}", timeout=5)).ok and r,
                        what=f"kk.{fmt} rendered")
        if fmt == "json":
            jsonschema.Draft202012Validator(JSONFEED_SCHEMA).validate(resp.json())
        else:
            assert feedparser.parse(resp.content).bozo == 0
