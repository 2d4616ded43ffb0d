"""`deliveries replay` and `discard` as an operator runs them, against the running service.

- replay skips what must not be replayed (a delivered record stays exactly as it was), `--dry-run`
  changes nothing, and `--wait` reports each outcome: delivered, failed again (with the partner's
  answer), skipped as superseded; exit 0 only when every replayed delivery landed;
- the HTTP replay of a finished delivery is a 409 in the error shape, changing nothing;
- discard takes dead letters out of the dead letters for good (status `discarded`);
- each command that changes something writes one audit record naming `cli:$USER`.

Partner `listing` (tests/conftest.py PROMISE_PARTNERS) answers as each test scripts it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from syndication.ops import audit
from tests.conftest import OPS_KEY
from tests.support.events import article_event
from tests.support.processes import ROOT, wait_for
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration
OPS = {"Authorization": f"Bearer {OPS_KEY}"}


def cli(service, *args) -> subprocess.CompletedProcess:
    env = {**service.env, "COLUMNS": "250", "USER": "carol"}
    return subprocess.run([sys.executable, "-m", "syndication.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=90)


def post(service, event: dict) -> None:
    resp = requests.post(f"{service.api_url}/v1/events", json=event, headers=service.headers(), timeout=10)
    assert resp.status_code == 202, resp.text


def record(service, aid: str, status: str | None = None, version: int = 1) -> dict | None:
    resp = requests.get(f"{service.api_url}/v1/deliveries", params={"article_id": aid, "partner": "listing"},
                        headers=OPS, timeout=5)
    found = [d for d in resp.json()["deliveries"] if d["version"] == version and (not status or d["status"] == status)]
    return found[0] if found else None


def dead_letter(service, aid: str, version: int = 1) -> dict:
    service.partners["listing"].script([Reply(400, body=b'{"error":"not today"}')])
    post(service, article_event(aid, version, categories=["Listing"]))
    return wait_for(lambda: record(service, aid, "dead", version), what=f"{aid} dead")


def delivered(service, aid: str) -> dict:
    service.partners["listing"].script([])
    post(service, article_event(aid, categories=["Listing"]))
    return wait_for(lambda: record(service, aid, "delivered"), what=f"{aid} delivered")


def test_dry_run_changes_nothing_and_wait_reports_delivered_and_skipped(service, unique):
    ctx = service.ctx
    done = delivered(service, f"rep-done-{unique}")
    dead = dead_letter(service, f"rep-dead-{unique}")
    trail = len(audit.recent(ctx, 1000))

    out = cli(service, "deliveries", "replay", "--dry-run", dead["id"], done["id"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"would replay {dead['id']}" in out.stdout
    assert f"would skip {done['id']}: delivered: a finished delivery is never replayed" in out.stdout
    assert "dry run: would replay 1, skip 1; nothing changed" in out.stdout
    assert record(service, dead["article_id"], "dead") == dead  # not one field changed
    assert ctx.redis.zscore(ctx.keys.deadletters, dead["id"]) is not None
    assert len(audit.recent(ctx, 1000)) == trail

    service.partners["listing"].script([])  # the partner takes it now
    out = cli(service, "deliveries", "replay", dead["id"], done["id"], "--wait", "20")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "replayed 1 deliveries (same delivery ids); due now"
    assert f"skipped {done['id']}: delivered: a finished delivery is never replayed" in lines
    assert f"{dead['id']}  delivered (attempt 2)" in lines
    assert lines[-1] == "waited: 1 landed, 0 failed again, 0 timed out (of 1 replayed)"
    assert record(service, done["article_id"]) == done, "a finished record is never rewritten"
    [entry] = audit.recent(ctx, 1)
    assert (entry["action"], entry["actor"], entry["count"], entry["skipped"]) == ("replay", "cli:carol", 1, 1)
    assert dead["id"] in entry["target"]


def test_wait_reports_failed_again_with_the_answer_and_exits_1(service, unique):
    dead = dead_letter(service, f"rep-again-{unique}")
    service.partners["listing"].script([Reply(400, body=b'{"error":"still no"}')])
    out = cli(service, "deliveries", "replay", dead["id"], "--wait", "20")
    assert out.returncode == 1, out.stdout + out.stderr
    assert any(line.startswith(f"{dead['id']}  failed again: dead (HTTP 400") for line in out.stdout.splitlines())
    assert out.stdout.splitlines()[-1] == "waited: 0 landed, 1 failed again, 0 timed out (of 1 replayed)"


def test_an_older_versions_dead_letter_is_skipped_as_superseded(service, unique):
    aid = f"rep-old-{unique}"
    old = dead_letter(service, aid)
    service.partners["listing"].script([])
    post(service, article_event(aid, 2, categories=["Listing"]))
    wait_for(lambda: record(service, aid, "delivered", version=2), what="v2 delivered")
    out = cli(service, "deliveries", "replay", old["id"], "--wait", "20")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{old['id']}  skipped as superseded" in out.stdout.splitlines()
    assert record(service, aid, version=1)["status"] == "superseded"
    assert [r.headers["webhook-id"] for r in service.partners["listing"].for_article(aid)].count(old["id"]) == 1


def test_http_replay_of_a_finished_delivery_is_a_409_and_changes_nothing(service, unique):
    done = delivered(service, f"rep-409-{unique}")
    resp = requests.post(f"{service.api_url}/v1/deliveries/{done['id']}/replay", headers=OPS, timeout=5)
    assert resp.status_code == 409
    body = resp.json()
    assert body["error"] == "not_replayable" and "delivered" in body["detail"] and set(body) <= {
        "error", "detail", "problems"}
    assert record(service, done["article_id"]) == done


def test_discard_takes_dead_letters_out_for_good(service, unique):
    ctx = service.ctx
    dead = dead_letter(service, f"rep-discard-{unique}")
    done = delivered(service, f"rep-keep-{unique}")
    out = cli(service, "deliveries", "discard", "--dry-run", dead["id"], done["id"])
    assert out.returncode == 0 and f"would discard {dead['id']}" in out.stdout, out.stdout + out.stderr
    assert record(service, dead["article_id"])["status"] == "dead"

    out = cli(service, "deliveries", "discard", dead["id"], done["id"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[0].startswith("discarded 1 dead letters")
    assert f"skipped {done['id']}: delivered: a finished delivery, not a dead letter" in out.stdout
    gone = record(service, dead["article_id"])
    assert gone["status"] == "discarded" and gone["attempt_log"] == dead["attempt_log"]
    assert ctx.redis.zscore(ctx.keys.deadletters, dead["id"]) is None
    assert 0 < ctx.redis.ttl(ctx.keys.delivery(dead["id"])) <= ctx.settings.delivery_retention
    listed = requests.get(f"{service.api_url}/v1/deliveries", headers=OPS, timeout=5,
                          params={"partner": "listing", "state": "dead", "limit": 1000}).json()["deliveries"]
    assert dead["id"] not in {d["id"] for d in listed}
    [entry] = audit.recent(ctx, 1)
    assert (entry["action"], entry["actor"], entry["count"]) == ("discard", "cli:carol", 1)

    again = cli(service, "deliveries", "replay", dead["id"])
    assert again.returncode == 0 and f"skipped {dead['id']}: discarded" in again.stdout
    assert cli(service, "deliveries", "discard", f"msg_{unique}").returncode == 2
    assert cli(service, "deliveries", "discard").returncode == 2
