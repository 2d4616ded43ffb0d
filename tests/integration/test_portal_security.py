"""/portal under attack, against the real API process: fixation, sign-out, guessing, framing, markup.

The CSRF probes of every portal form are in test_portal.py; these are the rest of /ops's
probes (test_ops_security.py) run on the portal: a cookie chosen before sign-in is never
adopted, sign-out ends the session server-side, an /ops session is no portal session (nor the
other way), wrong tokens are throttled like wrong ops keys, every portal answer carries the
clickjacking and CSP headers, and a partner's own answer (its markup) is shown as text.
"""

from __future__ import annotations

import pytest
import requests

from tests.conftest import OPS_KEY
from tests.integration.test_ops_security import SECURITY_HEADERS
from tests.support.portal import TOKEN_A, portal_csrf, portal_login
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration
CHOSEN = "A" * 43  # a well-formed token an attacker planted in the victim's browser


@pytest.fixture(autouse=True)
def clean_failures(service):
    k = service.ctx.keys
    service.ctx.redis.delete(k.auth_failures("127.0.0.1"), k.auth_known("127.0.0.1"))
    yield
    service.ctx.redis.delete(k.auth_failures("127.0.0.1"), k.auth_known("127.0.0.1"),
                             *(k.portal_rate("portal-a", a) for a in ("replay", "test-push")))


def signed_in(service, cookie: str, name: str = "synd_portal") -> bool:
    resp = requests.get(f"{service.api_url}/portal/state.json", cookies={name: cookie}, timeout=5)
    return resp.status_code == 200


def test_a_planted_cookie_is_never_adopted(service):
    s = requests.Session()
    s.cookies.set("synd_portal", CHOSEN, path="/portal")
    resp = s.post(f"{service.api_url}/portal/login", data={"token": TOKEN_A}, allow_redirects=False, timeout=5)
    issued = resp.cookies.get("synd_portal")
    assert resp.status_code == 303 and issued and issued != CHOSEN
    assert signed_in(service, issued) and not signed_in(service, CHOSEN)


def test_sign_out_ends_the_session_on_the_server(service):
    s = portal_login(service, TOKEN_A)
    cookie = s.cookies.get("synd_portal", path="/portal")
    resp = s.post(f"{service.api_url}/portal/logout", data={"csrf": portal_csrf(service, s)}, allow_redirects=False,
                  timeout=5)
    assert resp.status_code == 303 and not signed_in(service, cookie)


def test_ops_and_portal_sessions_are_apart(service):
    ops = requests.Session()
    assert ops.post(f"{service.api_url}/ops/login", data={"key": OPS_KEY}, allow_redirects=False,
                    timeout=5).status_code == 303
    ops_cookie = ops.cookies.get("synd_ops", path="/ops")
    assert not signed_in(service, ops_cookie)
    portal_cookie = portal_login(service, TOKEN_A).cookies.get("synd_portal", path="/portal")
    page = requests.get(f"{service.api_url}/ops", cookies={"synd_ops": portal_cookie}, timeout=5)
    assert page.status_code == 401 and "Ops key" in page.text
    # Nor does an ops key sign in to the portal.
    assert requests.post(f"{service.api_url}/portal/login", data={"token": OPS_KEY}, allow_redirects=False,
                         timeout=5).status_code == 401


def test_guessing_tokens_is_throttled(service):
    codes = [requests.post(f"{service.api_url}/portal/login", data={"token": f"guess-{i}"}, allow_redirects=False,
                           timeout=5).status_code for i in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    resp = requests.post(f"{service.api_url}/portal/login", data={"token": "guess"}, timeout=5)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_every_portal_answer_carries_the_security_headers(service):
    s = portal_login(service, TOKEN_A)
    answers = [
        s.get(f"{service.api_url}/portal", timeout=5),
        s.get(f"{service.api_url}/portal/state.json", timeout=5),
        s.get(f"{service.api_url}/portal/state.json?since=bad", timeout=5),
        s.post(f"{service.api_url}/portal/test-push", data={"csrf": "wrong"}, timeout=5),
        requests.get(f"{service.api_url}/portal", timeout=5),
        requests.get(f"{service.api_url}/static/portal.js", timeout=5),
    ]
    assert [r.status_code for r in answers] == [200, 200, 422, 403, 401, 200]
    for resp in answers:
        for name, value in SECURITY_HEADERS.items():
            assert resp.headers.get(name) == value, (resp.url, name)


def test_a_partners_markup_in_its_answer_is_text(service):
    receiver = service.partners["portal-a"]
    receiver.default = Reply(200, body=b'<script>alert(1)</script><img src=x onerror="alert(2)">')
    try:
        s = portal_login(service, TOKEN_A)
        s.post(f"{service.api_url}/portal/test-push", data={"csrf": portal_csrf(service, s)}, timeout=10)
        page = s.get(f"{service.api_url}/portal", timeout=10).text
    finally:
        receiver.default = Reply()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=" in page
    assert "<script>alert" not in page and "<img" not in page
