"""/portal over HTTP against the real API process: each partner sees and acts on its own data only.

A partner signs in with its pull token; everything after is scoped by the session's partner:
the page, `/portal/state.json` (the JSON the page uses), replays, test pushes. Forms need the
session's CSRF token from this origin; a second partner's session sees none of the first's
deliveries, dead letters or test pushes, in the HTML or the JSON, by search or by id.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests
from standardwebhooks import Webhook

from syndication.ops import audit
from tests.integration.test_push import status_is
from tests.support.config import SECRETS
from tests.support.portal import FAILING, TOKEN_A, TOKEN_B, dead_letter, portal_csrf, portal_login
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def clean_failures(service):
    """Wrong tokens tried here count against 127.0.0.1: none outlives the test."""
    k = service.ctx.keys
    yield
    service.ctx.redis.delete(k.auth_failures("127.0.0.1"), k.auth_known("127.0.0.1"),
                             *(k.portal_rate(p, a) for p in ("portal-a", "portal-b") for a in ("replay", "test-push")))


@pytest.fixture(scope="module")
def a_dead(service):
    """A dead letter of portal-a (two 503s), and a delivered delivery of portal-b."""
    from tests.integration.test_push import post
    from tests.support.events import article_event

    dead = dead_letter(service, "portal-a", "PortalA", "portal-a-story")
    post(service, article_event("portal-b-story", categories=["PortalB"]))
    wait_for(lambda: status_is(service, "portal-b-story", "portal-b", "delivered"), timeout=20,
             what="portal-b's delivery delivered")
    return dead


def state(service, s, **params) -> requests.Response:
    return s.get(f"{service.api_url}/portal/state.json", params=params, timeout=10)


def test_sign_in_takes_a_partners_pull_token_only(service):
    for wrong in ("", "not-a-token", "test-ops-key", SECRETS["PORTAL_A_SECRET"]):
        resp = requests.post(f"{service.api_url}/portal/login", data={"token": wrong}, allow_redirects=False,
                             timeout=5)
        assert resp.status_code == 401 and "Partner token" in resp.text
    s = portal_login(service, TOKEN_A)
    cookie = next(c for c in s.cookies if c.name == "synd_portal")
    assert cookie.path == "/portal" and cookie.has_nonstandard_attr("HttpOnly")
    page = s.get(f"{service.api_url}/portal", timeout=10)
    assert page.status_code == 200 and "signed in as partner <b id=who>portal-a</b>" in page.text
    for name, value in {"Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY"}.items():
        assert page.headers[name].startswith(value)
    # Sessions are per page: an /ops session is no portal session, and no portal cookie reaches /ops.
    assert requests.get(f"{service.api_url}/portal/state.json", cookies={"synd_portal": "x" * 43},
                        timeout=5).status_code == 401


def test_a_partner_sees_its_failing_deliverys_attempts(service, a_dead):
    s = portal_login(service, TOKEN_A)
    data = state(service, s, article="portal-a-story").json()
    [mine] = data["deliveries"]
    assert mine["id"] == a_dead["id"] and mine["status"] == "dead" and data["partner"] == "portal-a"
    attempts = mine["attempt_log"]
    assert [a["status"] for a in attempts] == [503, 503]
    assert all(a["response"] == FAILING.decode() and a["latency_ms"] >= 0 for a in attempts)
    assert data["health"]["dead_letters"] >= 1 and data["health"]["hour"]["attempts"] >= 2
    assert a_dead["id"] in [d["id"] for d in data["dead_letters"]]
    detail = state(service, s, delivery=a_dead["id"]).json()["delivery"]
    assert detail["record"]["id"] == a_dead["id"] and len(detail["attempts"]) == 2
    # The partner's markup is text on the page, never HTML.
    html = s.get(f"{service.api_url}/portal", params={"delivery": a_dead["id"]}, timeout=10).text
    assert "&lt;b&gt;maintenance&lt;/b&gt;" in html and "<b>maintenance</b>" not in html


def test_a_second_partner_sees_none_of_the_firsts_data(service, a_dead):
    s = portal_login(service, TOKEN_B)
    probes = [{}, {"article": "portal-a-story"}, {"delivery": a_dead["id"]}, {"since": "2000-01-01T00:00"}]
    for params in probes:
        resp = state(service, s, **params)
        assert resp.status_code == 200 and resp.json()["partner"] == "portal-b"
        assert f'"id":"{a_dead["id"]}"' not in resp.text and "maintenance" not in resp.text, params
        html = s.get(f"{service.api_url}/portal", params=params, timeout=10).text
        assert f'data-delivery="{a_dead["id"]}"' not in html and "maintenance" not in html, params
    data = state(service, s).json()
    assert all(d["partner"] == "portal-b" for d in data["deliveries"] + data["dead_letters"])
    assert [d["article_id"] for d in data["deliveries"]] == ["portal-b-story"]
    assert state(service, s, delivery=a_dead["id"]).json()["delivery"]["record"] is None
    # Nor can it replay the first partner's dead letter, by id or all at once.
    csrf = portal_csrf(service, s)
    resp = s.post(f"{service.api_url}/portal/replay/{a_dead['id']}", data={"csrf": csrf}, allow_redirects=False,
                  timeout=10)
    assert resp.status_code == 303 and "no%20delivery" in resp.headers["location"]
    s.post(f"{service.api_url}/portal/replay-dead-letters", data={"csrf": csrf}, timeout=10)
    assert status_is(service, "portal-a-story", "portal-a", "dead")


def test_every_portal_form_needs_the_csrf_token_from_this_origin(service, a_dead):
    s = portal_login(service, TOKEN_A)
    csrf = portal_csrf(service, s)
    for path in (f"/portal/replay/{a_dead['id']}", "/portal/replay-dead-letters", "/portal/test-push",
                 "/portal/logout"):
        for data, headers in (({}, {}), ({"csrf": "wrong"}, {}),
                              ({"csrf": csrf}, {"Origin": "https://evil.example"}),
                              ({"csrf": csrf}, {"Sec-Fetch-Site": "cross-site"})):
            resp = s.post(f"{service.api_url}{path}", data=data, headers=headers, allow_redirects=False, timeout=10)
            assert resp.status_code == 403, (path, data, headers, resp.status_code)
    assert status_is(service, "portal-a-story", "portal-a", "dead")
    assert state(service, s).status_code == 200  # still signed in
    # No session, no action: the sign-in page.
    assert requests.post(f"{service.api_url}/portal/test-push", data={"csrf": csrf}, timeout=10).status_code == 401


def test_a_bad_search_is_a_422_naming_the_field(service):
    s = portal_login(service, TOKEN_A)
    resp = state(service, s, since="yesterday")
    assert resp.status_code == 422 and resp.json()["detail"].startswith("since:")
    page = s.get(f"{service.api_url}/portal", params={"until": "soon"}, timeout=10)
    assert page.status_code == 200 and "until: not a time" in page.text


def test_a_partner_replays_its_own_dead_letter_audited_like_ops(service, a_dead):
    s = portal_login(service, TOKEN_A)
    csrf = portal_csrf(service, s)
    resp = s.post(f"{service.api_url}/portal/replay/{a_dead['id']}", data={"csrf": csrf}, allow_redirects=False,
                  timeout=10)
    assert resp.status_code == 303 and "replayed" in resp.headers["location"], resp.headers["location"]
    wait_for(lambda: status_is(service, "portal-a-story", "portal-a", "delivered"), timeout=20,
             what="the replayed dead letter delivered")
    mine = [a for a in audit.recent(service.ctx, 50) if a["action"] == "replay" and a["target"] == a_dead["id"]]
    assert mine and mine[0]["actor"] == "partner portal-a (portal)" and mine[0]["partner"] == "portal-a"


def test_a_test_push_is_signed_in_the_partners_format(service):
    receiver = service.partners["portal-a"]
    s = portal_login(service, TOKEN_A)
    csrf = portal_csrf(service, s)
    before = len(receiver.requests)
    resp = s.post(f"{service.api_url}/portal/test-push", data={"csrf": csrf}, allow_redirects=False, timeout=10)
    assert resp.status_code == 303 and "HTTP%20200" in resp.headers["location"], resp.headers["location"]
    req = receiver.requests[before]
    payload = Webhook(SECRETS["PORTAL_A_SECRET"]).verify(req.body, req.headers)  # raises if not signed right
    assert payload["article"]["headline"] == "Test push from syndication"
    shown = state(service, s).json()["test_push"]
    assert shown["status"] == 200 and shown["request_body"] == req.body.decode()
    assert shown["request_headers"]["webhook-signature"] == req.headers["webhook-signature"]
    # Another partner sees none of it.
    assert state(service, portal_login(service, TOKEN_B)).json()["test_push"] is None


def test_test_pushes_are_rate_limited(service):
    s = portal_login(service, TOKEN_B)
    csrf = portal_csrf(service, s)
    codes = [s.post(f"{service.api_url}/portal/test-push", data={"csrf": csrf}, allow_redirects=False,
                    timeout=10).status_code for _ in range(6)]
    assert codes[:5] == [303] * 5 and codes[5] == 429


def test_replay_all_since_a_time_takes_only_the_later_dead_letters(service):
    older = dead_letter(service, "portal-a", "PortalA", "portal-a-older")
    newer = dead_letter(service, "portal-a", "PortalA", "portal-a-newer")
    died = service.ctx.redis.zscore(service.ctx.keys.deadletters, newer["id"])
    assert died > service.ctx.redis.zscore(service.ctx.keys.deadletters, older["id"])
    s = portal_login(service, TOKEN_A)
    # By time first: `until` before the newer one was created lists the older only.
    listed = state(service, s, since=_iso(older["created_at"] - 1), until=_iso(newer["created_at"] - 0.001)).json()
    assert [d["id"] for d in listed["deliveries"]] == [older["id"]]
    resp = s.post(f"{service.api_url}/portal/replay-dead-letters", data={"csrf": portal_csrf(service, s),
                                                                       "since": _iso(died - 0.001)},
                  allow_redirects=False, timeout=10)
    assert resp.status_code == 303 and "replayed%201%20dead" in resp.headers["location"], resp.headers["location"]
    wait_for(lambda: status_is(service, "portal-a-newer", "portal-a", "delivered"), timeout=20,
             what="the later dead letter delivered")
    assert status_is(service, "portal-a-older", "portal-a", "dead")
    mine = [a for a in audit.recent(service.ctx, 50) if a["actor"] == "partner portal-a (portal)" and "since" in a]
    assert mine and mine[0]["target"] == "partner portal-a" and mine[0]["count"] == 1


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds")
