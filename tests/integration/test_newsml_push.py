"""A `format: newsml-g2` partner, on real processes: signed pushes that validate, and the same items by pull.

The session's service (API, workers, redis-server) and the `fmt-newsml` partner's receiver on
127.0.0.1 (tests/support/config.py): an article with an image is published, updated and withdrawn;
every push the partner receives carries a Standard Webhooks signature that verifies with its
secret, goes out as `application/vnd.iptc.g2.newsitem+xml`, and is a newsItem valid against the
IPTC NewsML-G2 2.35 XSD, with the status and signal of its step (and the Media Topic the event
named, with its IPTC name). The partner's pull stream holds
the same three items (the pull API renders through the same format).

A correction (`article.correction` on an `article.updated` event) goes out with sig:correction
beside sig:update and its note, as plain text, in edNote; the article read back carries it; the
next ordinary update carries neither, and a published event claiming to be one is a 422.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import standardwebhooks
from lxml import etree

from tests.support import config
from tests.support.events import article_event, withdrawal
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration
SCHEMA = etree.XMLSchema(etree.parse(str(
    Path(__file__).resolve().parents[1] / "schemas" / "newsml-g2-2.35" / "NewsML-G2_2.35-spec-All-Power.xsd")))
NS = {"g": "http://iptc.org/std/nar/2006-10-01/"}
PARTNER = "fmt-newsml"


def post(service, event: dict) -> None:
    resp = requests.post(f"{service.api_url}/v1/events", data=json.dumps(event, ensure_ascii=False).encode(),
                         headers=service.headers(), timeout=10)
    assert resp.status_code in (200, 202), resp.text


def status_and_signals(body: bytes) -> tuple[str, list[str]]:
    root = etree.fromstring(body)
    SCHEMA.assertValid(root)
    return (root.xpath("string(g:itemMeta/g:pubStatus/@qcode)", namespaces=NS),
            root.xpath("g:itemMeta/g:signal/@qcode", namespaces=NS))


def test_a_newsml_partner_receives_signed_valid_items_and_pulls_the_same(service, unique):
    aid = f"newsml-{unique}"
    receiver = service.partners[PARTNER]
    image = {"url": "https://news.example/i.jpg", "caption": "Сурет <b>1</b>", "mime_type": "image/jpeg"}
    topic = [{"qcode": "medtop:20000003"}]  # animation, below arts, culture, entertainment and media
    steps = [(article_event(aid, categories=["NewsmlTest"], images=[image], subjects=topic), ("stat:usable", [])),
             (article_event(aid, 2, categories=["NewsmlTest"], images=[image]), ("stat:usable", ["sig:update"])),
             (withdrawal(aid, 3), ("stat:canceled", []))]
    for n, (event, expected) in enumerate(steps, 1):
        post(service, event)
        got = wait_for(lambda n=n: len(receiver.for_article(aid)) >= n and receiver.for_article(aid),
                       what=f"push {n} of {aid} at {PARTNER}")[n - 1]
        standardwebhooks.Webhook(config.SECRETS["NEWSML_SECRET"]).verify(got.body, got.headers, json_parse=False)
        assert got.headers["content-type"] == "application/vnd.iptc.g2.newsitem+xml"
        assert status_and_signals(got.body) == expected, got.body
        assert etree.fromstring(got.body).get("version") == str(n)
    first = etree.fromstring(receiver.for_article(aid)[0].body)
    assert first.xpath("g:contentMeta/g:subject/@qcode", namespaces=NS) == ["medtop:20000003"]
    assert first.xpath("string(g:contentMeta/g:subject/g:name)", namespaces=NS) == "animation"

    resp = requests.get(f"{service.api_url}/v1/partners/{PARTNER}/items", timeout=10,
                        headers={"Authorization": f"Bearer {config.SECRETS['NEWSML_PULL_TOKEN']}"})
    assert resp.status_code == 200, resp.text
    mine = [i for i in resp.json()["items"] if i["article_id"] == aid]
    assert [(i["version"], i["content_type"]) for i in mine] == [
        (v, "application/vnd.iptc.g2.newsitem+xml") for v in (1, 2, 3)]
    pushed = {etree.fromstring(r.body).get("version"): r.body for r in receiver.for_article(aid)}
    for i in mine:
        assert status_and_signals(i["item"].encode()) == steps[i["version"] - 1][1]
        assert i["item"].encode() == pushed[str(i["version"])]  # the very bytes that were pushed


def test_a_correction_reaches_the_newsml_partner_as_sig_correction_with_its_note(service, unique):
    aid = f"newsml-fix-{unique}"
    receiver = service.partners[PARTNER]
    claims = article_event(aid, categories=["NewsmlTest"], correction={"note": "A first version?"})
    refused = requests.post(f"{service.api_url}/v1/events", data=json.dumps(claims), headers=service.headers(),
                            timeout=10)
    assert refused.status_code == 422 and [p["field"] for p in refused.json()["problems"]] == \
        ["article.correction"], refused.text
    note = "An earlier version gave the wrong <i>opening</i> date."
    steps = [(article_event(aid, categories=["NewsmlTest"]), []),
             (article_event(aid, 2, categories=["NewsmlTest"], correction={"note": note}),
              ["sig:update", "sig:correction"]),
             (article_event(aid, 3, categories=["NewsmlTest"]), ["sig:update"])]  # a correction does not stick
    for n, (event, signals) in enumerate(steps, 1):
        post(service, event)
        got = wait_for(lambda n=n: len(receiver.for_article(aid)) >= n and receiver.for_article(aid),
                       what=f"push {n} of {aid} at {PARTNER}")[n - 1]
        assert status_and_signals(got.body) == ("stat:usable", signals), got.body  # and valid against the XSD
        notes = etree.fromstring(got.body).xpath("g:itemMeta/g:edNote/text()", namespaces=NS)
        assert notes == (["An earlier version gave the wrong opening date."] if n == 2 else []), got.body
        if n == 2:  # read back while v2 is current: the stored article carries it, cleaned
            state = requests.get(f"{service.api_url}/v1/articles/{aid}", headers=service.headers(), timeout=10)
            assert state.json()["article"]["correction"] == {"note": "An earlier version gave the wrong opening "
                                                                     "date."}, state.text
    state = requests.get(f"{service.api_url}/v1/articles/{aid}", headers=service.headers(), timeout=10)
    assert state.json()["article"]["version"] == 3 and "correction" not in state.json()["article"], state.text
