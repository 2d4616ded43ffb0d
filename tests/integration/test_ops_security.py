"""/ops and the API under attack: body caps, ops sessions, CSRF, security headers, key throttling.

All against the real API process of the `service` fixture, over HTTP. Every
request here comes from 127.0.0.1, like the rest of the suite's, so each
test clears that address's failed-key count afterwards, and the throttle
tests come last; "another client" is a connection from 127.0.0.2 (still
loopback), never an X-Forwarded-For header.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import time

import pytest
import requests

from syndication.api import throttle
from syndication.settings import Secret
from syndication.ops import audit
from syndication.infra.keys import Keys
from tests.conftest import API_KEY, OPS_KEY
from tests.integration.test_push import OPS, post, status_is
from tests.support.browser import chromium
from tests.support.events import article_event
from tests.support import logscan, processes
from tests.support.processes import free_port, wait_for
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration
MiB = 1024 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
                               "style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@pytest.fixture(autouse=True)
def clean_failures(service):
    """No failed-key count (nor key known to have worked) from this module outlives its test, and
    none from other modules (they share 127.0.0.1) is in one of its tests."""
    k = service.ctx.keys
    service.ctx.redis.delete(k.auth_failures("127.0.0.1"), k.auth_known("127.0.0.1"))
    yield
    service.ctx.redis.delete(*(key for addr in ("127.0.0.1", "127.0.0.2", "127.0.0.3")
                               for key in (k.auth_failures(addr), k.auth_known(addr))))


def rss_mib(service) -> float:
    status = open(f"/proc/{service.procs['api'].p.pid}/status").read()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) / 1024


def login(service) -> requests.Session:
    s = requests.Session()
    resp = s.post(f"{service.api_url}/ops/login", data={"key": OPS_KEY}, allow_redirects=False, timeout=5)
    assert resp.status_code == 303, resp.text
    return s


def cookie(s: requests.Session) -> str:
    return s.cookies.get("synd_ops", path="/ops")


def csrf_of(service, s: requests.Session) -> str:
    page = s.get(f"{service.api_url}/ops", timeout=10)
    assert page.status_code == 200
    tokens = set(re.findall(r"name=csrf value='([^']+)'", page.text))
    assert len(tokens) == 1, "every form on the page carries the session's one CSRF token"
    return tokens.pop()


def session_key(service, token: str) -> str:
    return service.ctx.keys.ops_session(hashlib.sha256(token.encode()).hexdigest())


# --- body caps -------------------------------------------------------------------------------------


def test_a_50_mib_login_body_is_refused_from_its_content_length(service):
    port = int(service.api_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        # Headers only: the answer must come without the server waiting for (or reading) the body.
        sock.sendall(b"POST /ops/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 52428800\r\n\r\nkey=")
        started = time.monotonic()
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert time.monotonic() - started < 2
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"] == "body_too_large"
    assert "16 KiB" in json.loads(body)["detail"]

    before = rss_mib(service)
    started = time.monotonic()
    resp = requests.post(f"{service.api_url}/ops/login", data=b"key=" + b"x" * (50 * MiB),
                         headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert resp.status_code == 413 and resp.json()["error"] == "body_too_large"
    assert resp.headers["Content-Type"] == "application/json"
    assert time.monotonic() - started < 10
    assert rss_mib(service) - before < 20


def test_a_streamed_body_is_cut_at_the_cap(service):
    def chunks(total: int):
        for _ in range(total // 65536):
            yield b"k" * 65536

    before = rss_mib(service)
    form = "application/x-www-form-urlencoded"
    for path, total, ctype in (("/ops/login", 50 * MiB, form), ("/v1/events", 8 * MiB, "application/json")):
        headers = {**service.headers(), "Content-Type": ctype}
        try:
            resp = requests.post(f"{service.api_url}{path}", data=chunks(total), headers=headers, timeout=30)
        except requests.ConnectionError:
            continue  # cut off mid-body: as good as a 413
        assert resp.status_code == 413, (path, resp.status_code, resp.text)
        assert resp.json()["error"] == "body_too_large"
    assert rss_mib(service) - before < 20
    assert requests.get(f"{service.api_url}/healthz", timeout=5).ok


def test_bodies_under_the_caps_still_arrive_whole(service, unique):
    # A chunked login form (no Content-Length) under the cap goes through.
    resp = requests.post(f"{service.api_url}/ops/login", data=iter([b"key=", OPS_KEY.encode()]),
                         headers={"Content-Type": "application/x-www-form-urlencoded"}, allow_redirects=False,
                         timeout=5)
    assert resp.status_code == 303
    # An event of 900 KiB: over the 16 KiB default, under the 1 MiB of POST /v1/events.
    ev = article_event(f"big-ok-{unique}")
    ev["article"]["body_html"] = "<p>" + "y" * (900 * 1024) + "</p>"
    post(service, ev)
    resp = requests.post(f"{service.api_url}/v1/events", data=b"x" * (MiB + 1), headers=service.headers(),
                         timeout=10)
    assert resp.status_code == 413 and "1 MiB" in resp.json()["detail"]


# --- sessions ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["synd_ops=é".encode(), b"synd_ops=\xff\xfe", b"synd_ops=garbage",
                                 b"synd_ops=" + b"A" * 43, b"synd_ops=" + hashlib.sha256(b"x").hexdigest().encode(),
                                 b'synd_ops="\\"quoted\\""', b"synd_ops=" + b"z" * 4000, b"synd_ops; =;;"])
def test_a_garbage_cookie_gets_the_login_page(service, raw):
    resp = requests.get(f"{service.api_url}/ops", headers={"Cookie": raw}, timeout=5)
    assert resp.status_code == 401 and "Sign in" in resp.text
    resp = requests.post(f"{service.api_url}/ops/replay/nope", headers={"Cookie": raw}, data={"csrf": "x"},
                         allow_redirects=False, timeout=5)
    assert resp.status_code == 401
    resp = requests.post(f"{service.api_url}/ops/logout", headers={"Cookie": raw}, allow_redirects=False, timeout=5)
    assert resp.status_code == 303


def test_a_session_is_random_server_side_and_ends_at_logout(service):
    first, second = login(service), login(service)
    a, b = cookie(first), cookie(second)
    assert a and b and a != b
    assert OPS_KEY not in a and len(a) == 43
    resp = requests.post(f"{service.api_url}/ops/login", data={"key": OPS_KEY}, allow_redirects=False, timeout=5)
    set_cookie = [c for c in resp.raw.headers.getlist("Set-Cookie") if "Path=/ops" in c]
    assert len(set_cookie) == 1
    attrs = {p.strip().split("=")[0].lower() for p in set_cookie[0].split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= attrs and "secure" not in attrs  # http base_url
    assert "samesite=strict" in set_cookie[0].lower()
    # Behind a TLS-terminating proxy (the test service sets FORWARDED_ALLOW_IPS=127.0.0.1), the cookie is Secure.
    resp = requests.post(f"{service.api_url}/ops/login", data={"key": OPS_KEY}, headers={"X-Forwarded-Proto": "https"},
                         allow_redirects=False, timeout=5)
    assert resp.status_code == 303
    assert [c for c in resp.raw.headers.getlist("Set-Cookie") if "Path=/ops" in c and "; Secure" in c]

    stored = service.ctx.redis.hgetall(session_key(service, a))
    assert stored[b"key_name"] == b"ops key 1" and stored[b"csrf"]
    assert not any(OPS_KEY.encode() in v for v in stored.values())
    assert 12 * 3600 - 60 < service.ctx.redis.ttl(session_key(service, a)) <= 12 * 3600

    page = first.get(f"{service.api_url}/ops", timeout=10)
    assert page.status_code == 200 and "Sign out" in page.text and "ops key 1" in page.text
    token = csrf_of(service, first)
    assert token.encode() == stored[b"csrf"]
    assert csrf_of(service, second) != token  # one CSRF token per session

    # Logout is a form too: no token, nothing happens.
    assert first.post(f"{service.api_url}/ops/logout", allow_redirects=False, timeout=5).status_code == 403
    assert service.ctx.redis.exists(session_key(service, a))
    out = first.post(f"{service.api_url}/ops/logout", data={"csrf": token}, allow_redirects=False, timeout=5)
    assert out.status_code == 303 and not cookie(first)
    assert not service.ctx.redis.exists(session_key(service, a))
    # The old cookie, replayed by hand, is worth nothing now; the other session is untouched.
    old = requests.get(f"{service.api_url}/ops", cookies={"synd_ops": a}, timeout=5)
    assert old.status_code == 401 and "Sign in" in old.text
    assert second.get(f"{service.api_url}/ops", timeout=10).status_code == 200


def test_a_session_ends_on_the_server_whatever_the_cookie_says(service):
    s = login(service)
    service.ctx.redis.expire(session_key(service, cookie(s)), 1)
    wait_for(lambda: not service.ctx.redis.exists(session_key(service, cookie(s))), timeout=5,
             what="session expiry")
    assert s.get(f"{service.api_url}/ops", timeout=5).status_code == 401


# --- CSRF ------------------------------------------------------------------------------------------------


@pytest.fixture
def dead_letter(service, unique) -> tuple[str, dict]:
    aid = f"csrf-dead-{unique}"
    service.partners["opsdead"].script([Reply(400, body=b'{"error":"schema"}')])
    post(service, article_event(aid, categories=["OpsDead"]))
    return aid, wait_for(lambda: status_is(service, aid, "opsdead", "dead"), what="dead letter")


def test_replay_from_the_page_needs_the_csrf_token_and_this_origin(service, dead_letter):
    aid, dead = dead_letter
    url = f"{service.api_url}/ops/replay/{dead['id']}"
    s = login(service)
    token = csrf_of(service, s)
    refused = [
        {},  # no token
        {"data": {"csrf": "not-the-token"}},
        {"data": {"csrf": csrf_of(service, login(service))}},  # another session's token
        {"data": {"csrf": token}, "headers": {"Origin": "https://evil.example"}},
        {"data": {"csrf": token}, "headers": {"Origin": service.api_url.replace("127.0.0.1", "localhost")}},
        {"data": {"csrf": token}, "headers": {"Referer": "https://evil.example/ops"}},
        {"data": {"csrf": token}, "headers": {"Origin": "null"}},
        {"data": {"csrf": token}, "headers": {"Origin": "null", "Sec-Fetch-Site": "cross-site"}},
        {"data": {"csrf": token}, "headers": {"Origin": service.api_url, "Sec-Fetch-Site": "same-site"}},
    ]
    for kwargs in refused:
        resp = s.post(url, allow_redirects=False, timeout=5, **kwargs)
        assert resp.status_code == 403, kwargs
        assert "nothing was done" in resp.text
    assert status_is(service, aid, "opsdead", "dead")
    assert service.ctx.redis.zscore(service.ctx.keys.deadletters, dead["id"]) is not None

    # What a browser on our page sends (Referrer-Policy: no-referrer makes its Origin "null").
    ok = s.post(url, data={"csrf": token}, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
                allow_redirects=False, timeout=5)
    assert ok.status_code == 303 and "replayed" in ok.headers["Location"]
    wait_for(lambda: status_is(service, aid, "opsdead", "delivered"), what="replayed delivery delivered")
    again = s.post(f"{service.api_url}/ops/replay/nope", data={"csrf": token},
                   headers={"Origin": service.api_url, "Referer": f"{service.api_url}/ops"}, allow_redirects=False,
                   timeout=5)
    assert again.status_code == 303 and "no%20delivery%20nope" in again.headers["Location"]


def test_a_bearer_key_needs_no_csrf_and_login_refuses_other_origins(service):
    resp = requests.post(f"{service.api_url}/ops/replay/nope", headers=OPS, allow_redirects=False, timeout=5)
    assert resp.status_code == 303 and "no%20delivery" in resp.headers["Location"]
    resp = requests.post(f"{service.api_url}/ops/login", data={"key": OPS_KEY},
                         headers={"Origin": "https://evil.example"}, allow_redirects=False, timeout=5)
    assert resp.status_code == 403 and "synd_ops" not in resp.headers.get("Set-Cookie", "")


def test_partner_actions_need_the_csrf_token_and_are_audited_with_the_key_name(service):
    pause = f"{service.api_url}/ops/partners/pausable/pause"
    s = login(service)
    token = csrf_of(service, s)
    for kwargs in ({}, {"data": {"csrf": "nope"}}, {"data": {"csrf": token}, "headers": {"Origin": "https://evil.example"}}):
        assert s.post(pause, allow_redirects=False, timeout=5, **kwargs).status_code == 403, kwargs
        assert requests.post(pause, allow_redirects=False, timeout=5, **kwargs).status_code == 401, kwargs
    assert not service.ctx.redis.exists(service.ctx.keys.partner_paused("pausable"))
    try:
        ok = s.post(pause, data={"csrf": token}, headers={"Origin": service.api_url}, allow_redirects=False, timeout=5)
        assert ok.status_code == 303 and "paused%20pausable" in ok.headers["Location"]
        assert service.ctx.redis.exists(service.ctx.keys.partner_paused("pausable"))
        [last] = audit.recent(service.ctx, 1)
        assert (last["action"], last["target"], last["actor"]) == ("pause", "pausable", "ops key 1")
        # A bearer key needs no CSRF token; it is audited under its name too.
        resumed = requests.post(f"{service.api_url}/ops/partners/pausable/resume", headers=OPS,
                                allow_redirects=False, timeout=5)
        assert resumed.status_code == 303 and not service.ctx.redis.exists(service.ctx.keys.partner_paused("pausable"))
        [last] = audit.recent(service.ctx, 1)
        assert (last["action"], last["target"], last["actor"]) == ("resume", "pausable", "ops key 1")
    finally:
        service.ctx.redis.delete(service.ctx.keys.partner_paused("pausable"))
    unknown = requests.post(f"{service.api_url}/ops/partners/pausable/explode", headers=OPS, allow_redirects=False,
                            timeout=5)
    assert unknown.status_code == 404


def test_a_named_ops_key_signs_in_and_acts_under_its_name(service, tmp_path):
    """SYNDICATION_OPS_KEYS=name:key: the session keeps the name, the page shows it, the audit names it."""
    key = "alice-ops-key-0123456789"
    env = {**service.env, "SYNDICATION_OPS_KEYS": f"alice:{key},{OPS_KEY}"}
    logscan.forbid_env({"ALICE_KEY": key})
    port = free_port()
    api = processes.api(env, tmp_path, port)
    api.start()
    try:
        url = f"http://127.0.0.1:{port}"
        s = requests.Session()
        assert s.post(f"{url}/ops/login", data={"key": key}, allow_redirects=False, timeout=5).status_code == 303
        page = s.get(f"{url}/ops", timeout=10)
        assert "signed in as alice" in page.text
        stored = service.ctx.redis.hgetall(session_key(service, s.cookies.get("synd_ops", path="/ops")))
        assert stored[b"key_name"] == b"alice"
        token = re.findall(r"name=csrf value='([^']+)'", page.text)[0]
        try:
            ok = s.post(f"{url}/ops/partners/pausable/pause", data={"csrf": token}, headers={"Origin": url},
                        allow_redirects=False, timeout=5)
            assert ok.status_code == 303
            [last] = audit.recent(service.ctx, 1)
            assert (last["action"], last["target"], last["actor"]) == ("pause", "pausable", "alice")
            assert "alice" in s.get(f"{url}/ops/state.json", timeout=10).json()["sections"]["audit"]
        finally:
            service.ctx.redis.delete(service.ctx.keys.partner_paused("pausable"))
    finally:
        api.stop()


HOSTILE = (b"<script>alert('x')</script><img src=x onerror=\"alert('y')\"></pre><b id=injected>bold</b>"
           b"'><svg onload=alert(1)>")


def test_a_hostile_partner_answer_is_shown_as_text_in_the_attempt_detail(service, unique):
    aid = f"hostile-{unique}"
    service.partners["opsdead"].script([Reply(400, body=HOSTILE)])
    post(service, article_event(aid, categories=["OpsDead"]))
    dead = wait_for(lambda: status_is(service, aid, "opsdead", "dead"), what="dead letter")
    s = login(service)
    page = s.get(f"{service.api_url}/ops", params={"delivery": dead["id"]}, timeout=10)
    detail = s.get(f"{service.api_url}/ops/state.json", params={"delivery": dead["id"]},
                   timeout=10).json()["sections"]["detail"]
    for html in (page.text, detail):
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html  # markupsafe's escaping
        for raw in ("<script>alert", "<img", "<b id=injected>", "<svg onload", "onerror=\"", "</pre><b"):
            assert raw not in html, raw
    # A dead letter offers Replay and Discard; the same delivery, delivered, offers neither.
    assert f"/ops/replay/{dead['id']}" in detail and f"/ops/discard/{dead['id']}" in detail

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = chromium(pw)
        try:
            bpage = browser.new_page()
            dialogs = []
            bpage.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            bpage.goto(f"{service.api_url}/ops")
            bpage.fill("input[name=key]", OPS_KEY)
            bpage.click("text=Sign in")
            bpage.wait_for_selector("#partners-table")
            bpage.goto(f"{service.api_url}/ops?delivery={dead['id']}")
            bpage.wait_for_selector("#attempts")
            # One refresh swaps the sections in via innerHTML: nothing hostile runs then either.
            wait_for(lambda: bpage.locator("#live").inner_text().startswith("live"), timeout=15,
                     what="the page refreshed itself once")
            assert "<script>alert('x')</script>" in bpage.locator("#attempts").inner_text()
            assert bpage.locator("#injected, #attempts img, #attempts svg, #attempts script").count() == 0
        finally:
            browser.close()
    assert not dialogs, dialogs


# --- headers -----------------------------------------------------------------------------------------------


def test_every_ops_response_carries_the_security_headers(service):
    s = login(service)
    u = service.api_url
    answers = {
        "login page": requests.get(f"{u}/ops", timeout=5),
        "page by bearer": requests.get(f"{u}/ops", headers=OPS, timeout=10),
        "page by session": s.get(f"{u}/ops", timeout=10),
        "wrong key": requests.post(f"{u}/ops/login", data={"key": "nope"}, timeout=5),
        "login redirect": requests.post(f"{u}/ops/login", data={"key": OPS_KEY}, allow_redirects=False, timeout=5),
        "csrf refused": s.post(f"{u}/ops/replay/x", allow_redirects=False, timeout=5),
        "body too large": requests.post(f"{u}/ops/login", data=b"k" * 20000, timeout=5),
        "form over 4 KiB": requests.post(f"{u}/ops/login", data=b"k" * 8000, timeout=5),
        "method not allowed": requests.get(f"{u}/ops/login", timeout=5),
        "not found": requests.get(f"{u}/ops/nothing", timeout=5),
        "state by session": s.get(f"{u}/ops/state.json", timeout=10),
        "state without one": requests.get(f"{u}/ops/state.json", timeout=5),
        "script": requests.get(f"{u}/static/ops.js", timeout=5),
        "style": requests.get(f"{u}/static/pages.css", timeout=5),
        "no such static file": requests.get(f"{u}/static/nothing.js", timeout=5),
    }
    assert [r.status_code for r in answers.values()] == [401, 200, 200, 401, 303, 403, 413, 413, 405, 404,
                                                           200, 401, 200, 200, 404]
    assert answers["script"].headers["Content-Type"].startswith("text/javascript")
    assert answers["style"].headers["Content-Type"].startswith("text/css")
    assert answers["no such static file"].json()["error"] == "not_found"
    assert set(answers["state by session"].json()) == {"at", "problems", "queue_ages", "sections"}
    assert answers["state without one"].json()["error"] == "unauthorized"
    for what, resp in answers.items():
        for name, value in SECURITY_HEADERS.items():
            assert resp.headers.get(name) == value, (what, name, resp.headers.get(name))
    assert "Content-Security-Policy" not in requests.get(f"{u}/healthz", timeout=5).headers


def test_a_browser_signs_in_and_out_without_csp_violations(service):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = chromium(pw)
        try:
            context = browser.new_context()
            page = context.new_page()
            console = []
            page.on("console", lambda msg: console.append(msg.text))
            page.goto(f"{service.api_url}/ops")
            page.fill("input[name=key]", OPS_KEY)
            page.click("text=Sign in")
            page.wait_for_selector("text=Dead letters")
            [ours] = [c for c in context.cookies() if c["name"] == "synd_ops"]
            assert ours["path"] == "/ops" and ours["httpOnly"] and ours["sameSite"] == "Strict"
            assert page.evaluate("getComputedStyle(document.querySelector('th')).backgroundColor") \
                == "rgb(243, 243, 243)"  # the stylesheet, from /static, is allowed by the CSP
            page.click("text=Sign out")
            page.wait_for_selector("input[name=key]")
            assert not [c for c in context.cookies() if c["name"] == "synd_ops"]
            assert not service.ctx.redis.exists(session_key(service, ours["value"]))
        finally:
            browser.close()
    assert not [c for c in console if "Content Security Policy" in c], console


# --- throttling (last: these send wrong keys on purpose) ---------------------------------------------------


def _from_127_0_0_2(service, method: str, path: str, headers: dict, body: bytes = b"",
                    address: str = "127.0.0.2") -> tuple[int, dict, bytes]:
    host, port = service.api_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5, source_address=(address, 0))
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_eleven_wrong_keys_in_a_minute_get_429_with_growing_waits(service, unique):
    u = service.api_url
    body = json.dumps(article_event(f"throttle-{unique}")).encode()
    for _ in range(10):
        resp = requests.post(f"{u}/v1/events", data=body, headers=service.headers("wrong-key"), timeout=5)
        assert resp.status_code == 401
    waits = []
    # From now on only a key already seen to work from this address would pass: API_KEY has not (yet).
    for key in ("wrong-key", API_KEY, "wrong-key"):
        resp = requests.post(f"{u}/v1/events", data=body, headers=service.headers(key), timeout=5)
        assert resp.status_code == 429 and resp.json()["error"] == "too_many_attempts", resp.text
        waits.append(int(resp.headers["Retry-After"]))
    assert waits == [1, 2, 4]
    resp = requests.get(f"{u}/v1/deliveries", params={"article_id": "x"}, headers=OPS, timeout=5)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "8"
    page = requests.post(f"{u}/ops/login", data={"key": OPS_KEY}, allow_redirects=False, timeout=5)
    assert page.status_code == 429 and page.headers["Retry-After"] == "16" and "synd_ops" not in page.headers.get(
        "Set-Cookie", "")
    assert requests.get(f"{u}/ops", headers=OPS, timeout=5).status_code == 429
    # A missing key is not an attempt; the client is told it has none, as always.
    assert requests.post(f"{u}/v1/events", data=body, timeout=5).status_code == 401
    # Another client is not affected.
    status, _, _ = _from_127_0_0_2(service, "GET", "/v1/deliveries?article_id=x", OPS)
    assert status == 200
    # The counter lives at least as long as the last wait announced.
    assert service.ctx.redis.ttl(service.ctx.keys.auth_failures("127.0.0.1")) >= 16
    service.ctx.redis.delete(service.ctx.keys.auth_failures("127.0.0.1"))
    assert requests.post(f"{u}/v1/events", data=body, headers=service.headers(), timeout=5).status_code == 202


def test_the_wait_is_capped_and_success_does_not_count(service):
    key = service.ctx.keys.auth_failures("127.0.0.2")
    service.ctx.redis.set(key, 40, ex=60)  # failures another API process counted
    # This process may have seen the client clean within throttle.CLEAN_FOR: it looks again after that.
    status, headers, body = wait_for(
        lambda: (r := _from_127_0_0_2(service, "GET", "/v1/deliveries?article_id=x", OPS))[0] == 429 and r,
        timeout=throttle.CLEAN_FOR + 5, what="429 once the clean mark ran out")
    assert headers["retry-after"] == "300"
    assert json.loads(body) == {"error": "too_many_attempts", "detail": json.loads(body)["detail"]}
    service.ctx.redis.delete(key)
    for _ in range(15):
        assert _from_127_0_0_2(service, "GET", "/v1/deliveries?article_id=x", OPS)[0] == 200
    assert not service.ctx.redis.exists(key)
    for _ in range(3):
        assert _from_127_0_0_2(service, "GET", "/v1/deliveries?article_id=x", service.headers("nope"))[0] == 401
    assert service.ctx.redis.get(key) == b"3" and 0 < service.ctx.redis.ttl(key) <= 60


def test_the_throttle_fails_open_when_redis_is_unreachable():
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    dead = f"redis://127.0.0.1:{port.getsockname()[1]}/0"  # bound, never listening: refused
    t = throttle.Throttle(dead, Keys("t:"))
    started = time.monotonic()
    assert t.before_attempt("1.2.3.4") == 0
    t.failed("1.2.3.4")
    assert t.before_attempt("1.2.3.4") == 0  # standing aside now: not even tried
    assert time.monotonic() - started < 2
    port.close()


def test_a_clean_mark_never_buys_a_guess_in_the_process_that_saw_the_failure(redis_url):
    t = throttle.Throttle(redis_url, Keys(f"clean{time.time_ns()}:"))
    assert t.before_attempt("10.0.0.9") == 0  # no failures: marked clean, not looked up again for a while
    for _ in range(throttle.LIMIT):
        t.failed("10.0.0.9")
        t.before_attempt("10.0.0.9")
    assert t.before_attempt("10.0.0.9") > 0  # the mark went with the first failure


def test_a_stale_token_behind_a_nat_never_locks_out_a_key_that_works_there(service, unique):
    """One address (127.0.0.3), two clients: a publisher, and a partner polling with a stale pull
    token. The partner's failures throttle the address; the publisher's key, seen to work from
    there, keeps passing. A valid key never used from there gets 429 like a wrong one (so a
    guesser cannot tell a right guess from a wrong one while refused)."""
    nat = "127.0.0.3"

    def send(method: str, path: str, key: str, body: bytes = b"") -> tuple[int, dict]:
        headers = {**service.headers(key), "Content-Type": "application/json"}
        status, answer_headers, _ = _from_127_0_0_2(service, method, path, headers, body, address=nat)
        return status, answer_headers

    def publish(n: int) -> int:
        return send("POST", "/v1/events", API_KEY, json.dumps(article_event(f"nat-{unique}-{n}")).encode())[0]

    assert publish(0) == 202  # the publisher at work before the partner's token went stale
    stale = "/v1/partners/partner-a/items"
    for _ in range(throttle.LIMIT):
        assert send("GET", stale, "pull-token-rotated-away")[0] in (401, 404)
    status, headers = send("GET", stale, "pull-token-rotated-away")
    assert status == 429 and headers["retry-after"] == "1"
    for n in range(1, 4):  # the publisher is not locked out, and its successes do not reset the count
        assert publish(n) == 202
    status, headers = send("GET", stale, "pull-token-rotated-away")  # still refused, waiting longer
    assert status == 429 and headers["retry-after"] == "2"
    failures = int(service.ctx.redis.get(service.ctx.keys.auth_failures(nat)))
    assert failures == throttle.LIMIT + 2
    # The ops key never worked from this address: refused like a wrong key, and counted.
    status, headers = send("GET", "/v1/deliveries?article_id=x", OPS_KEY)
    assert status == 429
    assert int(service.ctx.redis.get(service.ctx.keys.auth_failures(nat))) == failures + 1
    # Only a fingerprint of the key is stored, never the key.
    known = service.ctx.redis.smembers(service.ctx.keys.auth_known(nat))
    assert known == {throttle.fingerprint(Secret(API_KEY)).encode()} and API_KEY.encode() not in b"".join(known)
    assert publish(4) == 202
