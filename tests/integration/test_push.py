"""Partner pushes against real partner servers on 127.0.0.1, a real worker and redis-server."""

from __future__ import annotations

import base64
import json
import re
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
from tests.support.events import article_event, sentinel, withdrawal
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


def metric(service, name: str, **labels) -> float:
    """Sum of a /metrics series over the samples carrying every given label."""
    text = requests.get(f"{service.api_url}/metrics", timeout=5).text
    want = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(?:{{(.*)}})? (\S+)$", line)
        if m and all(part in (m.group(1) or "") for part in want):
            total += float(m.group(2))
    return total


def push_would_have_happened(service, partner_id: str, aid: str) -> None:
    """Wait until a push of `aid` to `partner_id` would have reached the partner, had it been allowed.

    The delivery is due (a push batch would claim it); two sweeps ran since, and each queues a push
    for every partner with due deliveries; then a sentinel posted after those, pushed to partner-a by
    the same deliveries worker, was delivered: that worker took the earlier push off the queue first.
    """
    ctx = service.ctx
    d = wait_for(lambda: delivery(service, aid, partner_id), what=f"{partner_id}'s delivery of {aid}")
    assert ctx.redis.zscore(ctx.keys.partner_due(partner_id), d["id"]) is not None, d
    sweeps = metric(service, "syndication_sweeps_total", outcome="ran")
    wait_for(lambda: metric(service, "syndication_sweeps_total", outcome="ran") >= sweeps + 2, what="two sweeps")
    mark = post(service, sentinel())  # Economy: partner-a (and the economy desk) take it
    wait_for(lambda: status_is(service, mark["article"]["id"], "partner-a", "delivered"), what="sentinel pushed")


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
    assert [r.status_sent for r in reqs] == [503, 503, 503, 200]  # what the partner answered, in order


def test_429_retry_after_is_honoured(service, unique):
    aid = f"throttled-{unique}"
    partner = service.partners["throttled"]
    partner.script([Reply(429, headers={"Retry-After": "2"})])
    post(service, article_event(aid, categories=["Throttled"]))
    d = wait_for(lambda: status_is(service, aid, "throttled", "delivered"), timeout=30, what="delivered")
    assert [a["status"] for a in d["attempt_log"]] == [429, 200]
    first, second = partner.for_article(aid)
    assert (first.status_sent, second.status_sent) == (429, 200)  # a 429 was really sent, then waited out
    assert second.at - first.at >= 2.0  # the backoff alone would be 0-0.2 s


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
    push_would_have_happened(service, "gone", f"gone2-{unique}")
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
    unknown = "msg_" + "0" * 26  # a delivery id's shape (msg_nope is a 422: no delivery can have it)
    assert requests.post(f"{service.api_url}/v1/deliveries/{unknown}/replay", headers=OPS, timeout=5).status_code == 404


def test_cli_replays_dead_letters_by_partner(service, unique):
    from tests.integration.test_cli import cli

    partner = service.partners["fixable"]
    partner.script([500, 500, 500, 500])
    aids = [f"fixable-cli{i}-{unique}" for i in range(2)]
    for aid in aids:
        post(service, article_event(aid, categories=["Fixable"]))
    other = f"rejected-cli-{unique}"  # another partner's dead letter, dead in the same minutes
    service.partners["rejecting"].script([Reply(400)])
    post(service, article_event(other, categories=["Rejecting"]))
    dead = [wait_for(lambda aid=aid: status_is(service, aid, "fixable", "dead"), timeout=30, what="dead")
            for aid in aids]
    other_dead = wait_for(lambda: status_is(service, other, "rejecting", "dead"), timeout=30, what="other dead")
    listed = requests.get(f"{service.api_url}/v1/deliveries", params={"partner": "fixable", "state": "dead"},
                          headers=OPS, timeout=5).json()["deliveries"]
    assert {d["id"] for d in dead} <= {d["id"] for d in listed}

    out = cli("deliveries", "replay", "--partner", "fixable", "--since", "10m", env=service.env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"replayed {len(listed)} deliveries (same delivery ids); due now"
    # Only that partner's: the other dead letter was not touched (the replay is synchronous).
    ctx = service.ctx
    assert status_is(service, other, "rejecting", "dead")["attempts"] == 1
    assert ctx.redis.zscore(ctx.keys.deadletters, other_dead["id"]) is not None
    assert ctx.redis.zscore(ctx.keys.partner_due("rejecting"), other_dead["id"]) is None
    for d in dead:
        done = wait_for(lambda d=d: status_is(service, d["article_id"], "fixable", "delivered"), timeout=20,
                        what="replayed")
        assert done["id"] == d["id"] and [a["status"] for a in done["attempt_log"]] == [500, 500, 200]
    assert len(service.partners["rejecting"].for_article(other)) == 1


ORDERING_RETRY_AFTER = 8  # seconds; longer than the partner's 0-4 s backoff, so it alone sets v1's retry time


def test_v2_delivered_while_v1_waits_means_v1_never_arrives_after(service, unique):
    aid = f"order-{unique}"
    partner = service.partners["ordering"]
    # v1's first attempt fails with Retry-After: its retry is due exactly then, long after v2 is applied.
    partner.script([Reply(503, headers={"Retry-After": str(ORDERING_RETRY_AFTER)})])
    post(service, article_event(aid, 1, categories=["Ordering"]))
    v1 = wait_for(lambda: status_is(service, aid, "ordering", "retrying"), what="v1 retrying")
    due = v1["next_attempt_at"]
    assert due - v1["attempt_log"][0]["at"] == pytest.approx(ORDERING_RETRY_AFTER, abs=0.01)
    post(service, article_event(aid, 2, categories=["Ordering"]))
    wait_for(lambda: any(d["version"] == 1 and d["status"] == "superseded"
                         for d in deliveries(service, aid) if d["partner"] == "ordering"), what="v1 superseded")
    assert time.time() < due, "v2 was applied after v1's retry was due: the scenario did not happen"
    wait_for(lambda: status_is(service, aid, "ordering", "delivered"), what="v2 delivered")
    # Past v1's retry time, a push to the partner claims every delivery due by then, v1's retry first
    # were it still scheduled: once a later sentinel is delivered, v1's retry would have been sent.
    wait_for(lambda: time.time() > due + 0.1, timeout=ORDERING_RETRY_AFTER + 5, what="v1's retry time")
    mark = post(service, sentinel(categories=["Ordering"]))["article"]["id"]
    wait_for(lambda: status_is(service, mark, "ordering", "delivered"), what="sentinel delivered")
    versions = [json.loads(r.body)["article"]["version"] for r in partner.for_article(aid)]
    assert versions == [1, 2], versions
    assert [r.status_sent for r in partner.for_article(aid)] == [503, 200]
    v1 = next(d for d in deliveries(service, aid) if d["version"] == 1 and d["partner"] == "ordering")
    assert v1["status"] == "superseded" and v1["attempts"] == 1


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
    # The outcome is recorded after the partner answered: the states are read once they are written.
    expected = {1: "delivered", 2: "cancelled", 3: "delivered"}
    wait_for(lambda: {d["version"]: d["status"] for d in deliveries(service, aid)
                      if d["partner"] == "withdrawing"} == expected, timeout=10, what=f"states {expected}")
    # partner-a had v1 and v2 too (it takes everything): it hears of the withdrawal.
    wait_for(lambda: any(json.loads(r.body)["type"] == "article.withdrawn"
                         for r in service.partners["partner-a"].for_article(aid)), what="partner-a withdrawal")
    # the economy desk never had it: nothing to withdraw there (no delivery of any version was made for it,
    # and the withdrawal's fan-out is done: partner-a got it).
    assert "economy-desk" not in {d["partner"] for d in deliveries(service, aid)}
    assert service.partners["economy-desk"].for_article(aid) == []


def test_private_network_url_is_refused_without_the_flag(service, unique):
    aid = f"private-{unique}"
    post(service, article_event(aid, categories=["Private"]))
    d = wait_for(lambda: status_is(service, aid, "private", "dead"), what="refused")
    assert "non-public address 127.0.0.1" in d["last_error"]
    assert service.partners["private"].requests == []


def circuit_health(ctx, partner_id: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in ctx.redis.hgetall(ctx.keys.partner_circuit(partner_id)).items()}


def test_hanging_partner_opens_its_circuit_and_others_keep_flowing(service, unique):
    hanging = service.partners["hanging"]
    hanging.default = Reply(200, delay=3)  # longer than its 1 s read timeout
    try:
        for i in range(4):
            post(service, article_event(f"hang{i}-{unique}", categories=["Hanging"]))
        quick = f"quick-{unique}"
        post(service, article_event(quick))
        got = wait_for(lambda: service.partners["partner-a"].for_article(quick), timeout=30, what="quick pushed")[0]
        ctx = service.ctx
        health = wait_for(lambda: (h := circuit_health(ctx, "hanging")).get("state") == "open" and h,
                          timeout=20, what="circuit open")
        # Others keep flowing while the hanging partner hangs: partner-a had its push before the hanging
        # partner's circuit opened, i.e. before two of its pushes had each waited out the 1 s read timeout.
        # A worker blocked behind the hanging partner would only get to it after the circuit opened.
        print(f"\nquick push {float(health['opened_at']) - got.at:.2f}s before the hanging circuit opened")
        assert got.at < float(health["opened_at"]), (got.at, health)
        assert len(hanging.requests) <= 3  # two timeouts open it; in-flight limit 1 keeps it serial
    finally:
        hanging.default = Reply()
    # Recovered: a half-open probe succeeds, the circuit closes, everything is delivered.
    for i in range(4):
        wait_for(lambda i=i: status_is(service, f"hang{i}-{unique}", "hanging", "delivered"), timeout=60,
                 what=f"hang{i} delivered")
    health = circuit_health(ctx, "hanging")
    assert health["state"] == "closed" and int(health["opened_count"]) >= 1


def test_pause_queues_without_attempting_and_resume_delivers(service, unique):
    from tests.integration.test_cli import cli

    assert cli("partners", "pause", "pausable", env=service.env).returncode == 0
    try:
        aid = f"paused-{unique}"
        post(service, article_event(aid, categories=["Pausable"]))
        push_would_have_happened(service, "pausable", aid)
        assert service.partners["pausable"].for_article(aid) == []
        assert delivery(service, aid, "pausable")["status"] == "pending"
    finally:
        assert cli("partners", "resume", "pausable", env=service.env).returncode == 0
    done = wait_for(lambda: status_is(service, aid, "pausable", "delivered"), what="delivered after resume")
    assert done["attempts"] == 1 and len(service.partners["pausable"].for_article(aid)) == 1
