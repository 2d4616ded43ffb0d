"""Signing a partner in to /portal over HTTP, and giving it a dead letter (the portal tests).

    s = portal_login(service, "portal-a-pull-token")     # a requests.Session with its portal cookie
    token = portal_csrf(service, s)
    did = dead_letter(service, "PortalA", unique)       # a delivery of portal-a that died
"""

from __future__ import annotations

import re

import requests

from tests.integration.test_push import delivery, post
from tests.support.config import SECRETS
from tests.support.events import article_event
from tests.support.processes import wait_for
from tests.support.receiver import Reply

TOKEN_A, TOKEN_B = SECRETS["PORTAL_A_TOKEN"], SECRETS["PORTAL_B_TOKEN"]
FAILING = b'{"error":"<b>maintenance</b> until noon"}'


def portal_login(service, token: str) -> requests.Session:
    s = requests.Session()
    resp = s.post(f"{service.api_url}/portal/login", data={"token": token}, allow_redirects=False, timeout=5)
    assert resp.status_code == 303, resp.text
    return s


def portal_csrf(service, s: requests.Session) -> str:
    page = s.get(f"{service.api_url}/portal", timeout=10)
    assert page.status_code == 200, page.text
    tokens = set(re.findall(r"name=csrf value='([^']+)'", page.text))
    assert len(tokens) == 1, "every form on the page carries the session's one CSRF token"
    return tokens.pop()


def dead_letter(service, partner: str, category: str, article_id: str) -> dict:
    """Post an article only `partner` wants while its endpoint answers 503: its delivery dies."""
    receiver = service.partners[partner]
    receiver.default = Reply(503, body=FAILING)
    try:
        post(service, article_event(article_id, categories=[category]))
        return wait_for(lambda: (d := delivery(service, article_id, partner)) and d["status"] == "dead" and d,
                        timeout=30, what=f"{article_id} dead at {partner}")
    finally:
        receiver.default = Reply()
