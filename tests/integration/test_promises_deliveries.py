"""Documented promises about pushes and their repair (docs/explanation/partner-pushes.md), against the
running service and its partners.

- `max_age` ends a retrying delivery as a dead letter, counted in `syndication_retries_scheduled_total`
  and `syndication_dead_letters_total`;
- a partner URL whose *hostname* resolves to loopback is refused without `allow_private_network`:
  a dead letter at once, and nothing reaches the partner;
- `syndication deliveries list --since`, `deliveries replay --since/--until`, `deliveries replay ID`.

Partners `expiring`, `localhost-guard` and `listing` are tests/conftest.py's PROMISE_PARTNERS.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import OPS_KEY
from tests.support.events import article_event
from tests.support.processes import ROOT, wait_for
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration
OPS = {"Authorization": f"Bearer {OPS_KEY}"}


def cli(service, *args) -> subprocess.CompletedProcess:
    env = {**service.env, "COLUMNS": "250"}  # rich tables: wide enough for whole ids
    return subprocess.run([sys.executable, "-m", "syndication.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def post(service, event: dict) -> None:
    resp = requests.post(f"{service.api_url}/v1/events", data=json.dumps(event), headers=service.headers(), timeout=10)
    assert resp.status_code == 202, resp.text


def delivery(service, aid: str, partner: str, status: str | None = None) -> dict | None:
    resp = requests.get(f"{service.api_url}/v1/deliveries", params={"article_id": aid, "partner": partner},
                        headers=OPS, timeout=5)
    found = [d for d in resp.json()["deliveries"] if status is None or d["status"] == status]
    return found[0] if found else None


def counter(service, name: str, partner: str) -> float:
    text = requests.get(f"{service.api_url}/metrics", timeout=10).text
    return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.name == name and s.labels.get("partner") == partner)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def test_max_age_ends_retries_in_a_dead_letter_and_both_are_counted(service, unique):
    partner, aid = service.partners["expiring"], f"expiring-{unique}"
    retries = counter(service, "syndication_retries_scheduled_total", "expiring")
    dead = counter(service, "syndication_dead_letters_total", "expiring")
    partner.default = Reply(503)
    try:
        post(service, article_event(aid, categories=["Expiring"]))
        d = wait_for(lambda: delivery(service, aid, "expiring", "dead"), timeout=20, what="dead of age")
    finally:
        partner.default = Reply()
    tries = d["attempt_log"]
    max_age = service.ctx.settings.target("expiring").retry.max_age
    assert 2 <= len(tries) < 100 and {a["status"] for a in tries} == {503}  # not the 100 attempts allowed
    assert tries[-1]["at"] - d["created_at"] >= max_age > tries[-2]["at"] - d["created_at"]  # died of age
    assert len(partner.for_article(aid)) == len(tries) == d["attempts"]
    assert service.ctx.redis.zscore(service.ctx.keys.deadletters, d["id"]) is not None
    assert counter(service, "syndication_retries_scheduled_total", "expiring") == retries + len(tries) - 1
    assert counter(service, "syndication_dead_letters_total", "expiring") == dead + 1


def test_a_hostname_resolving_to_loopback_is_refused_and_dead_lettered(service, unique):
    partner, aid = service.partners["localhost-guard"], f"ssrf-{unique}"
    assert service.ctx.settings.target("localhost-guard").url.startswith("http://localhost:")
    post(service, article_event(aid, categories=["LocalhostGuard"]))
    d = wait_for(lambda: delivery(service, aid, "localhost-guard", "dead"), what="refused")
    assert d["attempts"] == 1 and "non-public address" in d["last_error"], d
    assert service.ctx.redis.zscore(service.ctx.keys.deadletters, d["id"]) is not None
    assert partner.requests == [] and partner.connections == 0  # not even a TCP connection


def dead_listing(service, aid: str) -> dict:
    service.partners["listing"].script([Reply(400)])
    post(service, article_event(aid, categories=["Listing"]))
    return wait_for(lambda: delivery(service, aid, "listing", "dead"), what=f"{aid} dead")


def test_deliveries_list_since(service, unique):
    older, newer = f"since-old-{unique}", f"since-new-{unique}"
    post(service, article_event(older, categories=["Listing"]))
    first = wait_for(lambda: delivery(service, older, "listing", "delivered"), what="older delivered")
    between = iso(first["created_at"] + 0.001)
    post(service, article_event(newer, categories=["Listing"]))
    second = wait_for(lambda: delivery(service, newer, "listing", "delivered"), what="newer delivered")
    assert second["created_at"] > first["created_at"]

    def listed(*args) -> list[str]:
        out = cli(service, "deliveries", "list", "--partner", "listing", "--json", *args)
        assert out.returncode == 0, out.stderr
        return [d["id"] for d in json.loads(out.stdout)]

    since_between = listed("--since", between)
    assert second["id"] in since_between and first["id"] not in since_between
    assert {first["id"], second["id"]} <= set(listed("--since", "1h"))
    assert listed("--since", "1h", "--state", "dead").count(second["id"]) == 0
    table = cli(service, "deliveries", "list", "--partner", "listing", "--since", "10m")
    assert table.returncode == 0 and second["id"] in table.stdout and newer in table.stdout


def test_deliveries_replay_by_time_range_and_by_id(service, unique):
    ctx = service.ctx
    a = dead_listing(service, f"range-a-{unique}")
    since = iso(ctx.redis.zscore(ctx.keys.deadletters, a["id"]) + 0.001)
    b = dead_listing(service, f"range-b-{unique}")
    until = iso(ctx.redis.zscore(ctx.keys.deadletters, b["id"]) + 0.001)
    c = dead_listing(service, f"range-c-{unique}")

    out = cli(service, "deliveries", "replay", "--since", since, "--until", until)
    assert out.returncode == 0 and "replayed 1 deliveries" in out.stdout, out.stdout + out.stderr
    wait_for(lambda: delivery(service, b["article_id"], "listing", "delivered"), what="b replayed and delivered")
    for left in (a, c):  # outside the range: still dead letters, not back in line
        assert delivery(service, left["article_id"], "listing")["status"] == "dead"
        assert ctx.redis.zscore(ctx.keys.deadletters, left["id"]) is not None
        assert ctx.redis.zscore(ctx.keys.partner_due("listing"), left["id"]) is None

    out = cli(service, "deliveries", "replay", c["id"])
    assert out.returncode == 0 and "replayed 1 deliveries" in out.stdout
    done = wait_for(lambda: delivery(service, c["article_id"], "listing", "delivered"), what="c replayed by id")
    assert done["id"] == c["id"] and [t["status"] for t in done["attempt_log"]] == [400, 200]
    assert {r.webhook_id for r in service.partners["listing"].for_article(c["article_id"])} == {c["id"]}
    assert delivery(service, a["article_id"], "listing")["status"] == "dead"
    unknown = cli(service, "deliveries", "replay", f"msg_{unique}")
    assert unknown.returncode == 2 and f"unknown delivery id: msg_{unique}" in unknown.stderr
