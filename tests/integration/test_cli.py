"""The `syndication` command: publish, schema, config check, deliveries show."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from tests.conftest import API_KEY
from tests.support.events import article_event
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "syndication.cli", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_publish_prints_outcomes_and_exits_2_on_invalid(service, tmp_path, unique):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(article_event(f"cli-{unique}")))
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "article.published"}')
    env = {**service.env, "SYNDICATION_API_KEYS": API_KEY}
    out = cli("publish", "--url", service.api_url, str(good), str(bad), str(tmp_path / "missing.json"), env=env)
    assert out.returncode == 2
    assert f"good.json: 202 accepted event_id=evt-cli-{unique}-v1" in out.stdout
    assert "bad.json: 422" in out.stderr and "event_id" in out.stderr
    assert "missing.json: cannot read" in out.stderr
    again = cli("publish", "--url", service.api_url, str(good), env=env)
    assert again.returncode == 0 and "200 already accepted" in again.stdout
    wait_for(lambda: requests.get(f"{service.api_url}/v1/articles/cli-{unique}", timeout=5).ok, what="applied")


def test_publish_unreachable_api_exits_1(tmp_path):
    f = tmp_path / "e.json"
    f.write_text(json.dumps(article_event("x")))
    out = cli("publish", "--url", "http://127.0.0.1:9", str(f))
    assert out.returncode == 1 and "cannot reach" in out.stderr


def test_schema_prints_json_schema():
    out = cli("schema")
    assert out.returncode == 0
    assert "article.withdrawn" in json.loads(out.stdout).__repr__()


def test_config_check(service, tmp_path):
    out = cli("config", "check", env=service.env)
    assert out.returncode == 2, out.stderr  # the 'private' test partner is refused, as it should be
    assert "partner-a: json" in out.stdout and "private: json" in out.stdout and "REFUSED" in out.stdout
    # The hub is a system target, not a partner; the topology the processes run is checked and shown.
    assert "system targets (not partners): websub-hub -> " in out.stdout
    assert "topology: " in out.stdout and "Celery threads pool of 2 per worker" in out.stdout
    good = tmp_path / "good.yaml"
    good.write_text("partners:\n  - id: p\n    url: http://127.0.0.1:9/x\n    allow_private_network: true\n")
    assert cli("config", "check", env={**service.env, "SYNDICATION_PARTNERS_FILE": str(good)}).returncode == 0
    bad = tmp_path / "p.yaml"
    bad.write_text("partners:\n  - id: p\n    url: http://10.0.0.1/x\n")
    refused = cli("config", "check", env={**service.env, "SYNDICATION_PARTNERS_FILE": str(bad)})
    assert refused.returncode == 2 and "REFUSED" in refused.stdout
    bad.write_text("partners:\n  - id: p\n    url: nope\n")
    invalid = cli("config", "check", env={**service.env, "SYNDICATION_PARTNERS_FILE": str(bad)})
    assert invalid.returncode == 2 and "url" in invalid.stderr


def test_deliveries_show(service, unique):
    aid = f"show-{unique}"
    resp = requests.post(f"{service.api_url}/v1/events", data=json.dumps(article_event(aid)),
                         headers=service.headers(), timeout=10)
    assert resp.status_code == 202, resp.text
    wait_for(lambda: len(service.partners["partner-a"].for_article(aid)) == 1, what="push")
    out = wait_for(lambda: (o := cli("deliveries", "show", aid, "--json", env=service.env)) and
                   '"delivered"' in o.stdout and o, what="delivered shown")
    rows = json.loads(out.stdout)
    assert rows[0]["partner"] == "partner-a" and rows[0]["attempt_log"][0]["status"] == 200
