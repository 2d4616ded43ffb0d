"""What a delivery's last attempt sent, and who signs in to /portal with which token (issue 28).

A service of this module's own (API, events and deliveries workers) pushes to real HTTP servers:
- the portal JSON (`/portal/state.json?delivery=ID`) and `deliveries show --json` hold the exact
  headers and body of the last attempt: they verify with the `standardwebhooks` library against
  the partner's secret, and are the bytes the partner's server received (the second attempt's,
  after a 503); a bearer token we send is masked, never stored;
- a partner that does not pull signs in with its portal token (`portal: {token_env}`), one that
  only pulls with its pull token, one with both only with its portal token; no token opens
  another partner's portal; `config check` says which token opens each partner's portal.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid

import pytest
import requests
import yaml
from standardwebhooks import Webhook

from syndication.configuration import load_settings
from syndication.infra.context import Context
from tests.support import cli
from tests.support.events import article_event
from tests.support.processes import api, free_port, private_env, running, wait_for, worker
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.integration
PUBLISHER = f"lastreq-publisher-{uuid.uuid4().hex[:8]}"
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
TOKENS = {name: f"{name.lower()}-{uuid.uuid4().hex}" for name in
          ("SIGNED_PORTAL", "BEARER_PUSH", "BEARER_PULL", "BOTH_PULL", "BOTH_PORTAL")}
FAST = {"base_delay": 0.2, "max_delay": 0.5}


class Service:
    def __init__(self, url: str, env: dict, ctx: Context, signed: Receiver, bearer: Receiver):
        self.url, self.env, self.ctx, self.signed, self.bearer = url, env, ctx, signed, bearer

    def post(self, event: dict) -> None:
        resp = requests.post(f"{self.url}/v1/events", json=event, timeout=10,
                             headers={"Authorization": f"Bearer {PUBLISHER}"})
        assert resp.status_code == 202, resp.text

    def delivered(self, article_id: str, partner: str) -> dict:
        from syndication.delivery import records

        def done():
            found = [r for r in records.for_article(self.ctx, article_id) if r["partner"] == partner]
            return found and found[0]["status"] == "delivered" and found[0]
        return wait_for(done, timeout=30, what=f"{article_id} delivered to {partner}")

    def login(self, token: str) -> requests.Session | None:
        s = requests.Session()
        resp = s.post(f"{self.url}/portal/login", data={"token": token}, allow_redirects=False, timeout=5)
        return s if resp.status_code == 303 else None


@pytest.fixture(scope="module")
def service(redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lastreq")
    signed, bearer = Receiver.start(), Receiver.start()
    partners_file = tmp / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": [
        {"id": "signed", "url": signed.url, "format": "json", "allow_private_network": True, "retry": FAST,
         "auth": {"type": "standard-webhooks", "secret_env": "SIGNED_SECRET"},
         "filters": {"categories": ["Signed"]}, "portal": {"token_env": "SIGNED_PORTAL"}},
        {"id": "bearer", "url": bearer.url, "format": "ninjs", "allow_private_network": True,
         "auth": {"type": "bearer", "token_env": "BEARER_PUSH"}, "filters": {"categories": ["Bearer"]},
         "pull": {"token_env": "BEARER_PULL"}},
        {"id": "both", "pull": {"token_env": "BOTH_PULL"}, "portal": {"token_env": "BOTH_PORTAL"}},
    ]}))
    port = free_port()
    env = private_env(redis_url, port, partners_file, "lr", SYNDICATION_API_KEYS=PUBLISHER,
                      SIGNED_SECRET=SECRET, **TOKENS)
    procs = [api(env, tmp, port), worker("events", env, tmp), worker("deliveries", env, tmp)]
    with running(procs, receivers=[signed, bearer]):
        yield Service(f"http://127.0.0.1:{port}", env, Context.build(load_settings(env)), signed, bearer)


def test_the_portal_shows_the_last_attempts_exact_request_and_it_verifies(service):
    aid = f"lastreq-{uuid.uuid4().hex[:8]}"
    service.signed.script([Reply(503)])  # the first attempt fails: the second is the last
    service.post(article_event(aid, categories=["Signed"]))
    rec = service.delivered(aid, "signed")
    got = [r for r in service.signed.requests if r.webhook_id == rec["id"]]
    assert len(got) == 2 and got[0].status_sent == 503

    s = service.login(TOKENS["SIGNED_PORTAL"])
    detail = s.get(f"{service.url}/portal/state.json", params={"delivery": rec["id"]}, timeout=10).json()["delivery"]
    req = detail["last_request"]
    assert req["attempt"] == 2 and req["encoding"] == "utf-8" and not req["truncated"]
    body = req["body"].encode()
    # What a partner does with it: its Standard Webhooks check, with its own secret.
    assert Webhook(SECRET).verify(body, req["headers"])["article"]["id"] == aid
    assert body == got[-1].body and req["body_bytes"] == len(body)
    received = {k.lower(): v for k, v in got[-1].headers.items()}
    for name, value in req["headers"].items():  # every header we sent, as the partner got it
        assert received[name.lower()] == value, name
    assert {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type"} <= set(map(str.lower, req["headers"]))
    page = s.get(f"{service.url}/portal", params={"delivery": rec["id"]}, timeout=10).text
    assert "Request of the last attempt (attempt 2" in page and req["headers"]["webhook-signature"] in page

    # The CLI shows the same request.
    out = cli.run(service.env, "deliveries", "show", aid, "--json")
    assert out.returncode == 0, out.stderr
    [shown] = json.loads(out.stdout)
    assert shown["last_request"] == req and len(shown["attempt_log"]) == 2
    out = cli.run(service.env, "deliveries", "show", aid, "--request")
    assert out.returncode == 0, out.stderr
    assert f"webhook-signature: {req['headers']['webhook-signature']}" in out.stdout.replace('"', "")
    assert f"request of attempt 2 ({len(body)} bytes)" in out.stdout


def test_a_bearer_token_we_send_is_masked_in_what_is_kept(service):
    aid = f"lastreq-bearer-{uuid.uuid4().hex[:8]}"
    service.post(article_event(aid, categories=["Bearer"]))
    rec = service.delivered(aid, "bearer")
    [sent] = [r for r in service.bearer.requests if r.webhook_id == rec["id"]]
    assert {k.lower(): v for k, v in sent.headers.items()}["authorization"] == f"Bearer {TOKENS['BEARER_PUSH']}"
    raw = service.ctx.redis.get(service.ctx.keys.delivery_request(rec["id"])).decode()
    assert TOKENS["BEARER_PUSH"] not in raw
    kept = json.loads(raw)
    assert {k.lower(): v for k, v in kept["headers"].items()}["authorization"] == "Bearer ********"
    assert kept["body"].encode() == sent.body
    s = service.login(TOKENS["BEARER_PULL"])
    text = s.get(f"{service.url}/portal/state.json", params={"delivery": rec["id"]}, timeout=10).text
    assert TOKENS["BEARER_PUSH"] not in text and "Bearer ********" in text


def test_each_partner_signs_in_with_its_own_portal_token_and_sees_only_its_own(service):
    aid = f"lastreq-own-{uuid.uuid4().hex[:8]}"
    service.post(article_event(aid, categories=["Signed"]))
    did = service.delivered(aid, "signed")["id"]
    # A partner without a pull token signs in with its portal token; one with both, with the portal token only.
    assert service.login(TOKENS["SIGNED_PORTAL"]) is not None
    assert service.login(TOKENS["BOTH_PULL"]) is None
    for token, partner in ((TOKENS["BOTH_PORTAL"], "both"), (TOKENS["BEARER_PULL"], "bearer")):
        s = service.login(token)
        data = s.get(f"{service.url}/portal/state.json", params={"delivery": did, "article": aid}, timeout=10).json()
        assert data["partner"] == partner
        assert data["delivery"] == {"record": None, "attempts": [], "last_request": None}
        assert data["deliveries"] == [] and did not in json.dumps(data)
    # The pull token of a partner with a portal token still pulls: the two are kept apart, not merged.
    pulled = requests.get(f"{service.url}/v1/partners/both/items", timeout=10,
                          headers={"Authorization": f"Bearer {TOKENS['BOTH_PULL']}"})
    assert pulled.status_code == 200, pulled.text


def test_config_check_says_which_token_opens_each_partners_portal(service):
    out = cli.run(service.env, "config", "check")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = {line.split(":", 1)[0].strip(): line for line in out.stdout.splitlines() if line.startswith("  ")}
    assert "[portal: SIGNED_PORTAL]" in lines["signed"]
    assert "[portal: pull token]" in lines["bearer"]
    assert "[portal: BOTH_PORTAL]" in lines["both"]
