"""Partner pushes against real partner servers on 127.0.0.1, a real worker and redis-server."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import feedparser
import jsonschema
import pytest
import requests
import standardwebhooks
from lxml import etree

from tests.conftest import OPS_KEY
from tests.support import config
from tests.support.events import article_event, withdrawal
from tests.support.processes import wait_for
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration
SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
OPS = {"Authorization": f"Bearer {OPS_KEY}"}


def post(service, event):
    resp = requests.post(f"{service.api_url}/v1/events", data=json.dumps(event, ensure_ascii=False).encode(),
                         headers=service.headers(), timeout=10)
    assert resp.status_code in (200, 202), resp.text
    return event


def deliveries(service, aid) -> list[dict]:
    resp = requests.get(f"{service.api_url}/v1/deliveries", params={"article_id": aid}, headers=OPS, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()["deliveries"]


def delivery(service, aid, partner) -> dict | None:
    """The partner's delivery of the article's newest version."""
    mine = [d for d in deliveries(service, aid) if d["partner"] == partner]
    return max(mine, key=lambda d: d["version"]) if mine else None


def status_is(service, aid, partner, status):
    d = delivery(service, aid, partner)
    return d if d and d["status"] == status else None


def test_each_format_lands_valid_and_authenticated(service, unique):
    aid = f"formats-{unique}"
    post(service, article_event(aid, categories=["FormatTest"], images=[
        {"url": "https://news.example/i.jpg", "caption": "Сурет", "mime_type": "image/jpeg", "width": 800,
         "height": 600}]))
    got = {p: wait_for(lambda p=p: service.partners[p].for_article(aid), what=f"{p} push")[0]
           for p in ("fmt-ninjs", "fmt-ninjs3", "fmt-atom", "fmt-rss")}
    checker = jsonschema.FormatChecker()
    for partner, schema_file in (("fmt-ninjs", "ninjs-schema_2.2.json"), ("fmt-ninjs3", "ninjs-schema_3.1.json")):
        doc = json.loads(got[partner].body)
        schema = json.loads((SCHEMAS / schema_file).read_text())
        jsonschema.Draft202012Validator(schema, format_checker=checker).validate(doc)
        assert aid in json.dumps(doc)
    ninjs = json.loads(got["fmt-ninjs"].body)
    assert ninjs["pubstatus"] == "usable" and ninjs["headlines"][0]["value"] == f"Headline {aid} v1"
    assert ninjs["associations"][0]["type"] == "picture"
    standardwebhooks.Webhook(config.SECRETS["NINJS_SECRET"]).verify(got["fmt-ninjs"].body, got["fmt-ninjs"].headers)

    atom = got["fmt-atom"]
    etree.fromstring(atom.body)
    assert atom.headers["content-type"].startswith("application/atom+xml")
    assert atom.headers["authorization"] == f"Bearer {config.SECRETS['ATOM_TOKEN']}"
    parsed = feedparser.parse(atom.body)
    assert parsed.bozo == 0 and parsed.entries[0].title == f"Headline {aid} v1"

    rss = got["fmt-rss"]
    parsed = feedparser.parse(rss.body)
    assert parsed.bozo == 0 and parsed.entries[0].title == f"Headline {aid} v1"
    expected = base64.b64encode(f"rss-user:{config.SECRETS['RSS_PASSWORD']}".encode()).decode()
    assert rss.headers["authorization"] == f"Basic {expected}"
    for req in got.values():
        assert req.headers["user-agent"].startswith("syndication/")
        assert req.headers["webhook-id"].startswith("msg_")


def test_signatures_verify_during_key_rotation(service, unique):
    aid = f"rotate-{unique}"
    post(service, article_event(aid, categories=["Rotation"]))
    req = wait_for(lambda: service.partners["rotating"].for_article(aid), what="push")[0]
    old, new = config.SECRETS["ROTATING_SECRET"].split()
    for secret in (old, new):  # a partner on either key accepts the push
        standardwebhooks.Webhook(secret).verify(req.body, req.headers)
    assert len(req.headers["webhook-signature"].split()) == 2
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(config.secret("intruder")).verify(req.body, req.headers)


def test_three_503s_then_success_is_delivered_once_with_four_attempts(service, unique):
    aid = f"flaky-{unique}"
    partner = service.partners["flaky"]
    partner.script([503, 503, 503])
    post(service, article_event(aid, categories=["Flaky"]))
    d = wait_for(lambda: status_is(service, aid, "flaky", "delivered"), timeout=30, what="delivered")
    assert [a["status"] for a in d["attempt_log"]] == [503, 503, 503, 200]
    assert d["attempts"] == 4
    reqs = partner.for_article(aid)
    assert len(reqs) == 4 and len({r.webhook_id for r in reqs}) == 1  # one id on every attempt
    assert len(partner.effective()) >= 1


def test_429_retry_after_is_honoured(service, unique):
    aid = f"throttled-{unique}"
    partner = service.partners["throttled"]
    partner.script([Reply(429, headers={"Retry-After": "2"})])
    post(service, article_event(aid, categories=["Throttled"]))
    wait_for(lambda: status_is(service, aid, "throttled", "delivered"), timeout=30, what="delivered")
    first, second = partner.for_article(aid)[:2]
    assert second.at - first.at >= 2.0


def test_400_goes_straight_to_dead_letter(service, unique):
    aid = f"rejected-{unique}"
    service.partners["rejecting"].script([Reply(400, body=b'{"error":"missing field"}')])
    post(service, article_event(aid, categories=["Rejecting"]))
    d = wait_for(lambda: status_is(service, aid, "rejecting", "dead"), timeout=20, what="dead letter")
    assert d["attempts"] == 1 and d["attempt_log"][0]["response"] == '{"error":"missing field"}'
    assert service.ctx.redis.zscore(service.ctx.keys.deadletters, d["id"]) is not None


def test_410_disables_the_partner_and_parks_until_enabled(service, unique):
    partner = service.partners["gone"]
    partner.script([410])
    post(service, article_event(f"gone1-{unique}", categories=["Gone"]))
    wait_for(lambda: status_is(service, f"gone1-{unique}", "gone", "parked"), what="parked")
    post(service, article_event(f"gone2-{unique}", categories=["Gone"]))
    time.sleep(2)
    assert partner.for_article(f"gone2-{unique}") == []  # disabled: nothing attempted
    assert delivery(service, f"gone2-{unique}", "gone")["status"] == "pending"
    from tests.integration.test_cli import cli

    out = cli("partners", "enable", "gone", env=service.env)
    assert out.returncode == 0 and "1 parked deliveries are due again" in out.stdout
    for aid in (f"gone1-{unique}", f"gone2-{unique}"):
        wait_for(lambda aid=aid: status_is(service, aid, "gone", "delivered"), what=f"{aid} delivered after enable")


def test_dead_letter_replayed_to_success_keeps_its_id(service, unique):
    aid = f"fixable-{unique}"
    partner = service.partners["fixable"]
    partner.script([500, 500])
    post(service, article_event(aid, categories=["Fixable"]))
    dead = wait_for(lambda: status_is(service, aid, "fixable", "dead"), timeout=30, what="dead after 2 attempts")
    assert dead["attempts"] == 2
    resp = requests.post(f"{service.api_url}/v1/deliveries/{dead['id']}/replay", timeout=5)
    assert resp.status_code == 401
    resp = requests.post(f"{service.api_url}/v1/deliveries/{dead['id']}/replay", headers=OPS, timeout=5)
    assert resp.status_code == 202 and resp.json() == {"delivery_id": dead["id"], "status": "pending"}
    done = wait_for(lambda: status_is(service, aid, "fixable", "delivered"), timeout=20, what="replayed")
    assert [a["status"] for a in done["attempt_log"]] == [500, 500, 200]
    assert {r.webhook_id for r in partner.for_article(aid)} == {dead["id"]}
    assert requests.post(f"{service.api_url}/v1/deliveries/msg_nope/replay", headers=OPS, timeout=5).status_code == 404


def test_cli_replays_dead_letters_by_partner(service, unique):
    from tests.integration.test_cli import cli

    partner = service.partners["fixable"]
    partner.script([500, 500, 500, 500])
    aids = [f"fixable-cli{i}-{unique}" for i in range(2)]
    for aid in aids:
        post(service, article_event(aid, categories=["Fixable"]))
    for aid in aids:
        wait_for(lambda aid=aid: status_is(service, aid, "fixable", "dead"), timeout=30, what="dead")
    out = cli("deliveries", "replay", "--partner", "fixable", "--since", "10m", env=service.env)
    assert out.returncode == 0 and "replayed" in out.stdout
    for aid in aids:
        wait_for(lambda aid=aid: status_is(service, aid, "fixable", "delivered"), timeout=20, what="replayed")


def test_v2_delivered_while_v1_waits_means_v1_never_arrives_after(service, unique):
    aid = f"order-{unique}"
    partner = service.partners["ordering"]
    partner.script([503])  # v1's first attempt fails; its retry waits up to 4 s
    post(service, article_event(aid, 1, categories=["Ordering"]))
    wait_for(lambda: status_is(service, aid, "ordering", "retrying"), what="v1 retrying")
    post(service, article_event(aid, 2, categories=["Ordering"]))
    wait_for(lambda: any(json.loads(r.body)["article"]["version"] == 2 for r in partner.for_article(aid)),
             what="v2 delivered")
    time.sleep(5)  # past v1's retry time
    versions = [json.loads(r.body)["article"]["version"] for r in partner.for_article(aid)]
    assert versions == [1, 2], versions
    v1 = next(d for d in deliveries(service, aid) if d["version"] == 1 and d["partner"] == "ordering")
    assert v1["status"] == "superseded"


def test_withdrawal_reaches_earlier_recipients_and_cancels_pending(service, unique):
    aid = f"withdraw-{unique}"
    partner = service.partners["withdrawing"]
    post(service, article_event(aid, 1, categories=["Withdrawing"]))
    wait_for(lambda: status_is(service, aid, "withdrawing", "delivered"), what="v1 delivered")
    partner.script([503])  # v2 fails and waits 0-30 s to retry
    post(service, article_event(aid, 2, categories=["Withdrawing"]))
    wait_for(lambda: any(d["version"] == 2 and d["status"] == "retrying" and d["partner"] == "withdrawing"
                 for d in deliveries(service, aid)), what="v2 retrying")
    post(service, withdrawal(aid, 3))
    wait_for(lambda: any(json.loads(r.body)["type"] == "article.withdrawn" for r in partner.for_article(aid)),
             what="withdrawal pushed")
    states = {d["version"]: d["status"] for d in deliveries(service, aid) if d["partner"] == "withdrawing"}
    assert states == {1: "delivered", 2: "cancelled", 3: "delivered"}
    # partner-a had v1 and v2 too (it takes everything): it hears of the withdrawal.
    wait_for(lambda: any(json.loads(r.body)["type"] == "article.withdrawn"
                         for r in service.partners["partner-a"].for_article(aid)), what="partner-a withdrawal")
    # the economy desk never had it: nothing to withdraw there.
    assert service.partners["economy-desk"].for_article(aid) == []


def test_private_network_url_is_refused_without_the_flag(service, unique):
    aid = f"private-{unique}"
    post(service, article_event(aid, categories=["Private"]))
    d = wait_for(lambda: status_is(service, aid, "private", "dead"), what="refused")
    assert "non-public address 127.0.0.1" in d["last_error"]
    assert service.partners["private"].requests == []


def test_hanging_partner_opens_its_circuit_and_others_keep_flowing(service, unique):
    hanging = service.partners["hanging"]
    hanging.default = Reply(200, delay=3)  # longer than its 1 s read timeout
    try:
        for i in range(4):
            post(service, article_event(f"hang{i}-{unique}", categories=["Hanging"]))
        started = time.time()
        quick = f"quick-{unique}"
        post(service, article_event(quick))
        wait_for(lambda: service.partners["partner-a"].for_article(quick), what="others unaffected")
        assert time.time() - started < 5
        ctx = service.ctx
        wait_for(lambda: ctx.redis.hget(ctx.keys.partner_circuit("hanging"), "state") == b"open",
                 timeout=20, what="circuit open")
        assert len(hanging.requests) <= 3  # two timeouts open it; in-flight limit 1 keeps it serial
    finally:
        hanging.default = Reply()
    # Recovered: a half-open probe succeeds, the circuit closes, everything is delivered.
    for i in range(4):
        wait_for(lambda i=i: status_is(service, f"hang{i}-{unique}", "hanging", "delivered"), timeout=60,
                 what=f"hang{i} delivered")
    health = {k.decode(): v.decode() for k, v in ctx.redis.hgetall(ctx.keys.partner_circuit("hanging")).items()}
    assert health["state"] == "closed" and int(health["opened_count"]) >= 1


def test_pause_queues_without_attempting_and_resume_delivers(service, unique):
    from tests.integration.test_cli import cli

    assert cli("partners", "pause", "pausable", env=service.env).returncode == 0
    aid = f"paused-{unique}"
    post(service, article_event(aid, categories=["Pausable"]))
    time.sleep(2)
    assert service.partners["pausable"].for_article(aid) == []
    assert delivery(service, aid, "pausable")["status"] == "pending"
    assert cli("partners", "resume", "pausable", env=service.env).returncode == 0
    wait_for(lambda: status_is(service, aid, "pausable", "delivered"), what="delivered after resume")
