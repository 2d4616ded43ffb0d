"""Ops-webhook notices name a failing partner by id and say how it failed, and nothing more (issue 22).

Real processes (API, events and deliveries workers, the session's Redis under a key prefix of
this test's own) and real partners: `capwire` answers with an error page carrying a marker
(503, then 410 Gone), `deadport` is a closed port. Both URLs are capabilities: a secret in the
path and in the query, as partner URLs often are. Every notice the ops webhook receives
(`partner.circuit_opened`, `delivery.dead`, `partner.disabled`) must carry neither secret, nor
the partner's response text, nor the embargoed headline of the story that failed: ids,
counts, the HTTP status and a one-word classification only.
"""

from __future__ import annotations

import json
import socket
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
import yaml

from syndication.delivery import notices
from tests.conftest import API_KEY
from tests.support.events import article_event
from tests.support.processes import api, free_port, private_env, start_all, stop_all, wait_for, worker
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.integration
OPS_SECRET = "whsec_" + "b3BzLXdlYmhvb2stc2VjcmV0LWtleS0wMTIzNDU2Nzg5"


def _closed_port() -> int:
    """A port nobody listens on: bound and closed again (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notices(ops: Receiver) -> list[dict]:
    return [json.loads(r.body) for r in ops.requests]


def _kinds(ops: Receiver) -> set[tuple[str, str]]:
    return {(n["type"], n["data"].get("partner")) for n in _notices(ops)}


def test_notices_carry_neither_the_partner_url_nor_its_answer_nor_an_embargoed_headline(tmp_path, redis_url):
    secret = uuid.uuid4().hex
    path_token, query_token = f"PATHCAP{secret[:12]}", f"QUERYCAP{secret[12:]}"
    marker = f"PARTNER-ERROR-PAGE-{uuid.uuid4().hex[:8]}"
    headline = f"EMBARGOED-HEADLINE-{uuid.uuid4().hex[:8]}"
    wire, ops = Receiver.start(), Receiver.start()
    wire.default = Reply(503, body=f"<h1>Service unavailable</h1><p>{marker}</p>".encode())
    retry = {"base_delay": 0.2, "max_delay": 0.5, "max_attempts": 2}
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": [
        {"id": "capwire", "url": f"{wire.url}/hook/{path_token}?token={query_token}", "format": "json",
         "embargo": "send", "allow_private_network": True, "breaker_threshold": 2, "breaker_cooldown": 1,
         "retry": retry},
        {"id": "deadport", "url": f"http://127.0.0.1:{_closed_port()}/hook/{path_token}?token={query_token}",
         "format": "json", "embargo": "send", "allow_private_network": True, "breaker_threshold": 2,
         "breaker_cooldown": 1, "retry": retry, "timeouts": {"connect": 1, "read": 2}}]}))
    port = free_port()
    env = private_env(redis_url, port, partners_file, "ntc", SYNDICATION_API_KEYS=API_KEY,
                      SYNDICATION_OPS_WEBHOOK_URL=ops.url, SYNDICATION_OPS_WEBHOOK_SECRET=OPS_SECRET)
    procs = [api(env, tmp_path, port), worker("events", env, tmp_path), worker("deliveries", env, tmp_path)]
    try:
        start_all(procs)  # cold starts overlap
        embargoed = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0).isoformat()
        event = article_event(f"ntc-{uuid.uuid4().hex[:8]}", headline=headline, embargoed=embargoed)
        resp = requests.post(f"http://127.0.0.1:{port}/v1/events", data=json.dumps(event), timeout=10,
                             headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
        assert resp.status_code == 202, resp.text

        wanted = {("partner.circuit_opened", "capwire"), ("delivery.dead", "capwire"),
                  ("partner.circuit_opened", "deadport"), ("delivery.dead", "deadport")}
        wait_for(lambda: wanted <= _kinds(ops), timeout=60, what=f"{wanted} at the ops webhook")
        assert headline.encode() in wire.requests[0].body  # the partner did get the story (embargo: send)
        # The partner goes away for good: 410 with its error page, the partner is disabled.
        wire.default = Reply(410, body=f"gone: {marker}".encode())
        requests.post(f"http://127.0.0.1:{port}/v1/events", timeout=10, data=json.dumps(
            article_event(f"ntc-gone-{uuid.uuid4().hex[:8]}", headline=headline, embargoed=embargoed)),
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
        wait_for(lambda: ("partner.disabled", "capwire") in _kinds(ops), timeout=60, what="partner.disabled")

        for r in ops.requests:  # the whole request: path, headers and body
            raw = (r.path + json.dumps(r.headers)).encode() + r.body
            for secret_text in (path_token, query_token, marker, headline, "/hook/"):
                assert secret_text.encode() not in raw, (secret_text, r.body)
            assert b"127.0.0.1" not in r.body and b"http" not in r.body, r.body  # no URL, not even its host
        found = {(n["type"], n["data"]["partner"]): n["data"] for n in _notices(ops)}
        for data in found.values():
            assert set(data) <= set(notices.FIELDS) | {"suppressed"}, data
        assert found[("partner.circuit_opened", "capwire")]["status"] == 503
        assert found[("partner.circuit_opened", "capwire")]["failure"] == "server_error"
        assert found[("delivery.dead", "capwire")]["failure"] == "server_error"
        assert found[("delivery.dead", "capwire")]["article_id"] == event["article"]["id"]
        assert found[("partner.disabled", "capwire")] == {"partner": "capwire", "status": 410, "failure": "gone",
                                                          "suppressed": 0}
        assert found[("delivery.dead", "deadport")]["status"] is None
        assert found[("delivery.dead", "deadport")]["failure"] == "connection_refused"
        assert found[("partner.circuit_opened", "deadport")]["failure"] == "connection_refused"
    finally:
        stop_all(procs)
        wire.stop()
        ops.stop()
