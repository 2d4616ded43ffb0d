"""Configuration promises: the example files load, the defaults without files, keys under the prefix.

- config/settings.example.env with config/partners.example.yaml and config/feeds.example.yaml
  pass `syndication config check` (run with no network: their hosts are reserved example names,
  so "cannot resolve now" is the only note allowed) and load with every secret resolved;
- no SYNDICATION_PARTNERS_FILE: no partners (no pushes); no SYNDICATION_FEEDS_FILE: one feed, `all`
  (the running behaviour is in test_promises_up.py);
- every key in the session's Redis is under some test's SYNDICATION_KEY_PREFIX, Celery's included
  (test_promises_own_redis.py checks it strictly on a Redis the service has to itself).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import requests

from syndication.configuration import load_settings
from tests.support.events import article_event
from tests.support.processes import ROOT, wait_for

pytestmark = pytest.mark.integration
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
EXAMPLE_FEEDS = ["all", "president", "economy", "politics", "en", "ru", "kk", "partners-full"]


def example_env() -> dict:
    env = {}
    for line in (ROOT / "config" / "settings.example.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def host_env(**extra) -> dict:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}, **extra}


def test_the_example_config_files_pass_config_check_and_load():
    env = example_env()
    assert env["SYNDICATION_PARTNERS_FILE"] == "config/partners.example.yaml"
    assert env["SYNDICATION_FEEDS_FILE"] == "config/feeds.example.yaml"
    # No network (unshare -n): nothing is resolved or reached, whatever the example names.
    # --offline: the files only (no Redis to ping here).
    out = subprocess.run([UNSHARE, "-n", "--", sys.executable, "-m", "syndication.cli", "config", "check",
                          "--offline"],
                         env=host_env(**env), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "configuration error" not in out.stderr, out.stderr
    assert f"feeds (config/feeds.example.yaml): {', '.join(EXAMPLE_FEEDS)}" in out.stdout, out.stdout
    assert "publisher keys: 1; ops keys: 1" in out.stdout
    lines = [line.strip() for line in out.stdout.splitlines() if line.startswith("  ")]
    assert [line.split(":")[0] for line in lines] == ["kazinform", "aggregator"], out.stdout
    assert lines[0].startswith("kazinform: ninjs -> https://partner.example/ingest/syndication [standard-webhooks]")
    assert lines[1].startswith("aggregator: json -> https://aggregator.example/hooks/news [bearer]")
    # The note follows the rate-limit tag, the last of the line's bracketed tags (auth, tls, rate limit).
    notes = [re.split(r"\[(?:no rate limit|rate limit: [^\]]*)\] ", line, maxsplit=1)[1] for line in lines]
    assert all(n == "ok" or n.startswith("UNRESOLVED") for n in notes), notes  # never REFUSED or invalid
    assert out.returncode == (2 if any(n != "ok" for n in notes) else 0), out.stdout + out.stderr

    settings = load_settings({**env, "SYNDICATION_PARTNERS_FILE": str(ROOT / env["SYNDICATION_PARTNERS_FILE"]),
                              "SYNDICATION_FEEDS_FILE": str(ROOT / env["SYNDICATION_FEEDS_FILE"])})
    assert [f.name for f in settings.feeds] == EXAMPLE_FEEDS
    assert settings.secrets_for("kazinform")["secret_env"].value == env["KAZINFORM_WEBHOOK_SECRET"]
    assert settings.secrets_for("aggregator")["token_env"].value == env["AGGREGATOR_TOKEN"]
    kazinform = settings.partner("kazinform")
    assert kazinform.target.retry.max_age == 86400 and kazinform.filters.languages == ["en", "ru", "kk"]
    assert settings.target("kazinform") is kazinform.target  # where its pushes go


def test_without_partners_or_feeds_files_there_are_no_partners_and_one_feed():
    settings = load_settings({"SYNDICATION_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert settings.partners == () and settings.targets == () and settings.partners_file is None
    assert [f.name for f in settings.feeds] == ["all"] and settings.feeds[0].filters.matches({"categories": ["X"]})
    assert settings.feeds[0].access == "public" and settings.feeds[0].max_items == 50


def test_every_key_in_the_session_redis_is_under_a_prefix(service, unique):
    r, prefix = service.ctx.redis, service.env["SYNDICATION_KEY_PREFIX"]
    aid = f"prefix-{unique}"  # through every queue first: applied, rendered, pushed
    resp = requests.post(f"{service.api_url}/v1/events", data=json.dumps(article_event(aid)),
                         headers=service.headers(), timeout=10)
    assert resp.status_code == 202, resp.text
    wait_for(lambda: service.partners["partner-a"].for_article(aid), what="pushed")
    keys = [k.decode() for k in r.scan_iter(count=1000)]
    assert f"{prefix}article:{aid}" in keys
    bare = [k for k in keys if not re.match(r"^[A-Za-z0-9_-]+:", k)]  # Celery's defaults: _kombu.*, unacked, ...
    assert not bare, f"keys under no prefix: {bare[:20]}"
    assert not [k for k in keys if k.startswith("synd:")], "the default prefix: no test session uses it"
    brokers = [k for k in keys if re.search(r"kombu|celery|unacked", k, re.I) and not re.match(r"^[^:]+:celery:", k)]
    assert not brokers, f"Celery keys outside <prefix>celery: {brokers[:20]}"
    ours = {k for k in keys if k.startswith(f"{prefix}celery:")}
    assert {f"{prefix}celery:_kombu.binding.{q}" for q in ("events", "feeds", "deliveries")} <= ours, sorted(ours)
