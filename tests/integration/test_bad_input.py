"""Bad input gets a clear 4xx naming the problem, and never disturbs valid work in flight."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.events import article_event
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def accepted_before(service):
    """A valid event accepted just before the bad ones."""
    ev = article_event("bad-input-neighbour")
    resp = requests.post(f"{service.api_url}/v1/events", data=json.dumps(ev), headers=service.headers(), timeout=5)
    assert resp.status_code == 202
    return ev


def post_raw(service, body: bytes | None, headers: dict | None = None):
    return requests.post(f"{service.api_url}/v1/events", data=body,
                         headers=service.headers() if headers is None else headers, timeout=10)


def valid() -> dict:
    return article_event("bad-input-subject")


def problems(resp) -> dict[str, str]:
    return {p["field"]: p["message"] for p in resp.json()["problems"]}


def test_no_key_is_401(service, accepted_before):
    resp = post_raw(service, json.dumps(valid()).encode(), {"Content-Type": "application/json"})
    assert resp.status_code == 401
    assert "missing publisher key" in resp.json()["detail"]
    assert resp.headers["WWW-Authenticate"] == "Bearer"


def test_wrong_key_is_401(service, accepted_before):
    resp = post_raw(service, json.dumps(valid()).encode(), service.headers("not-a-key"))
    assert resp.status_code == 401
    assert "not recognised" in resp.json()["detail"]


def test_invalid_json_is_422(service, accepted_before):
    resp = post_raw(service, b'{"event_id": "x", "type": ')
    assert resp.status_code == 422
    assert "not valid JSON" in problems(resp)["(body)"]


def test_missing_headline_is_422_naming_the_field(service, accepted_before):
    ev = valid()
    del ev["article"]["headline"]
    resp = post_raw(service, json.dumps(ev).encode())
    assert resp.status_code == 422
    assert problems(resp) == {"article.headline": "Field required"}


def test_wrong_type_for_version_is_422(service, accepted_before):
    ev = valid()
    ev["article"]["version"] = "2"
    resp = post_raw(service, json.dumps(ev).encode())
    assert resp.status_code == 422
    assert "valid integer" in problems(resp)["article.version"]


def test_two_mib_body_is_413(service, accepted_before):
    ev = valid()
    ev["article"]["body_html"] = "<p>" + "x" * (2 * 1024 * 1024) + "</p>"
    resp = post_raw(service, json.dumps(ev).encode())
    assert resp.status_code == 413
    assert "1 MiB" in resp.json()["detail"]


def test_two_mib_chunked_body_without_length_is_413(service, accepted_before):
    def chunks():
        for _ in range(64):
            yield b"x" * 32768

    resp = requests.post(f"{service.api_url}/v1/events", data=chunks(), headers=service.headers(), timeout=10)
    assert resp.status_code == 413


def test_unknown_event_type_is_422(service, accepted_before):
    ev = valid()
    ev["type"] = "article.deleted"
    resp = post_raw(service, json.dumps(ev).encode())
    assert resp.status_code == 422
    assert "unknown event type 'article.deleted'" in problems(resp)["type"]


def test_bad_input_disturbs_nothing_accepted_before(service, accepted_before):
    for bad in (b"{", b"[]", b'{"type": "article.published"}', json.dumps({**valid(), "event_id": ""}).encode()):
        assert post_raw(service, bad).status_code == 422
    aid = accepted_before["article"]["id"]
    state = wait_for(lambda: (r := requests.get(f"{service.api_url}/v1/articles/{aid}", timeout=5)).ok and r.json(),
                     what="neighbour applied")
    assert state["version"] == 1
    wait_for(lambda: len(service.partners["partner-a"].for_article(aid)) == 1, what="neighbour pushed")
    wait_for(lambda: aid.encode() in requests.get(f"{service.api_url}/feeds/all.rss", timeout=5).content,
             what="neighbour in feed")
    # The rejected subject was never stored.
    assert requests.get(f"{service.api_url}/v1/articles/bad-input-subject", timeout=5).status_code == 404


def test_unknown_article_is_404_json(service):
    resp = requests.get(f"{service.api_url}/v1/articles/no-such-article", timeout=5)
    assert resp.status_code == 404
    assert resp.json()["error"] == "not_found"


@pytest.mark.parametrize("method, path, says", [
    ("GET", "/v1/articles/no-such-article", "no-such-article"),
    ("GET", "/v1/deliveries/msg_" + "0" * 26, "msg_" + "0" * 26),
    ("POST", "/v1/partners/nobody/dead-letters/replay", "nobody"),
    ("POST", "/v1/partners/nobody/dead-letters/discard", "nobody"),
    ("POST", "/v1/partners/nobody/backfill", "nobody"),
    ("GET", "/feeds/no-such-feed.rss", "no-such-feed.rss"),
    ("GET", "/feeds/all.docx", "all.docx"),
    ("POST", "/ops/partners/wire/explode", "Not Found"),  # not an ops action: no route
    ("GET", "/static/no-such-file.js", "Not Found"),
    ("GET", "/nothing/here", "Not Found"),
])
def test_every_404_has_the_one_error_shape(service, method, path, says):
    """Whatever is unknown (an id of the core, a route, a file), the body is the app's error shape."""
    from tests.conftest import OPS_KEY

    resp = requests.request(method, f"{service.api_url}{path}", headers=service.headers(OPS_KEY), timeout=10,
                            json={"last": 1} if path.endswith("backfill") else None)
    assert resp.status_code == 404, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == {"error", "detail"} and body["error"] == "not_found", body
    assert says in body["detail"], body


def test_health_and_readiness(service):
    assert requests.get(f"{service.api_url}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{service.api_url}/readyz", timeout=5).json()["redis"] == "ok"


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/deliveries?stat=dead"),  # a typo of `state`: not silently "every delivery"
    ("GET", "/v1/articles/a-1?verison=2"),
    ("POST", "/v1/events?dry_run=1"),
])
def test_an_unknown_query_parameter_is_422_naming_it(service, method, path):
    from tests.conftest import OPS_KEY

    key = OPS_KEY if path.startswith("/v1/deliveries") else None
    headers = service.headers(key) if key else service.headers()
    resp = requests.request(method, f"{service.api_url}{path}", headers=headers, timeout=10,
                            data=json.dumps(valid()) if method == "POST" else None)
    assert resp.status_code == 422, resp.text
    name = path.split("?")[1].split("=")[0]
    assert problems(resp) == {f"query.{name}": "unknown query parameter"}
