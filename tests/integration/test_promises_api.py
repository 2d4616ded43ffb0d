"""Documented promises of the HTTP interface against the running service (tests/conftest.py
`service`); the promises are in docs/explanation/http-interface.md.

- the OpenAPI document at /openapi.json, browsable at /docs;
- GET /v1/deliveries?partner=&state= (newest first, each parameter narrows) and /v1/deliveries/{id};
- "a client that got no answer retries with the same event_id and gets 200 (and the event is
  queued again at once)".
"""

from __future__ import annotations

import json

import pytest
import requests

from syndication.articles import ArticleStore
from tests.conftest import OPS_KEY
from tests.support.events import article_event
from tests.support.processes import wait_for
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration
OPS = {"Authorization": f"Bearer {OPS_KEY}"}


def post(service, event: dict) -> requests.Response:
    return requests.post(f"{service.api_url}/v1/events", data=json.dumps(event), headers=service.headers(), timeout=10)


def deliveries(service, **params) -> list[dict]:
    resp = requests.get(f"{service.api_url}/v1/deliveries", params=params, headers=OPS, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()["deliveries"]


def one(service, aid: str, partner: str, status: str) -> dict | None:
    found = [d for d in deliveries(service, article_id=aid) if d["partner"] == partner and d["status"] == status]
    return found[0] if found else None


def test_the_openapi_document_and_the_docs_page(service):
    resp = requests.get(f"{service.api_url}/openapi.json", timeout=5)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    doc = resp.json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "syndication"
    for path, method in (("/v1/events", "post"), ("/v1/articles/{article_id}", "get"), ("/v1/deliveries", "get"),
                         ("/v1/deliveries/{delivery_id}", "get"), ("/v1/deliveries/{delivery_id}/replay", "post"),
                         ("/readyz", "get")):
        assert method in doc["paths"].get(path, {}), f"{method.upper()} {path} missing from /openapi.json"
    assert "requestBody" in doc["paths"]["/v1/events"]["post"]
    page = requests.get(f"{service.api_url}/docs", timeout=5)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in page.text.lower() and "/openapi.json" in page.text


def test_deliveries_narrowed_by_partner_and_state_newest_first_and_one_by_id(service, unique):
    partner = service.partners["listing"]
    dead_aid, ok_aid = f"list-dead-{unique}", f"list-ok-{unique}"
    partner.script([Reply(400, body=b'{"error":"no thanks"}')])
    assert post(service, article_event(dead_aid, categories=["Listing"])).status_code == 202
    dead = wait_for(lambda: one(service, dead_aid, "listing", "dead"), what="a dead letter")
    assert post(service, article_event(ok_aid, categories=["Listing"])).status_code == 202
    ok = wait_for(lambda: one(service, ok_aid, "listing", "delivered"), what="a delivered one")

    url = f"{service.api_url}/v1/deliveries"
    assert requests.get(url, params={"partner": "listing"}, timeout=5).status_code == 401
    assert requests.get(url, params={"state": "nosuch"}, headers=OPS, timeout=5).status_code == 422

    mine = deliveries(service, partner="listing", limit=1000)
    assert {d["partner"] for d in mine} == {"listing"}
    ids = [d["id"] for d in mine]
    assert ids.index(ok["id"]) < ids.index(dead["id"]), "not newest first"
    created = [d["created_at"] for d in mine]
    assert created == sorted(created, reverse=True), "not newest first"

    dead_only = deliveries(service, partner="listing", state="dead", limit=1000)
    assert {d["status"] for d in dead_only} == {"dead"} and {d["partner"] for d in dead_only} == {"listing"}
    assert dead["id"] in [d["id"] for d in dead_only] and ok["id"] not in [d["id"] for d in dead_only]
    delivered = deliveries(service, partner="listing", state="delivered", limit=1000)
    assert {d["status"] for d in delivered} == {"delivered"}
    assert ok["id"] in [d["id"] for d in delivered] and dead["id"] not in [d["id"] for d in delivered]
    everywhere = deliveries(service, state="dead", limit=1000)  # no partner: every partner's
    assert {d["status"] for d in everywhere} == {"dead"} and dead["id"] in [d["id"] for d in everywhere]
    assert deliveries(service, article_id=dead_aid, partner="partner-a", state="dead") == []  # partner-a got it

    got = requests.get(f"{url}/{dead['id']}", headers=OPS, timeout=5)
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["id"], body["partner"], body["article_id"], body["status"]) == (dead["id"], "listing", dead_aid, "dead")
    assert [(a["status"], a["response"]) for a in body["attempt_log"]] == [(400, '{"error":"no thanks"}')]
    assert requests.get(f"{url}/{dead['id']}", timeout=5).status_code == 401
    missing = requests.get(f"{url}/msg_{unique:0<26}", headers=OPS, timeout=5)  # a delivery id's shape, unknown
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    malformed = requests.get(f"{url}/msg_{unique}", headers=OPS, timeout=5)  # no delivery can have it
    assert malformed.status_code == 422 and malformed.json()["problems"][0]["field"] == "path.delivery_id"


def test_a_retry_of_an_accepted_but_unapplied_event_is_queued_again_at_once(service, unique):
    """The API stored the event and died before queueing it: the client, with no answer, retries."""
    from syndication.pipeline import ingest

    ctx = service.ctx
    aid = f"requeue-{unique}"
    event = article_event(aid)
    stored = ingest.accept(ctx, json.dumps(event).encode(), lambda follow_up: None)  # stored, never queued
    assert stored.created and ctx.redis.hget(ctx.keys.event(event["event_id"]), "status") == b"accepted"
    again = post(service, event)
    assert again.status_code == 200 and again.json() == {"event_id": event["event_id"], "status": "accepted"}
    # Applied well before the sweeper would re-drive it (SYNDICATION_EVENT_REDRIVE_AFTER, 30 s here).
    assert ctx.settings.event_redrive_after >= 30
    wait_for(lambda: ArticleStore.of(ctx).get(aid) and ctx.redis.hget(ctx.keys.event(event["event_id"]), "status") == b"applied",
             timeout=10, what="the repeated event applied at once")
