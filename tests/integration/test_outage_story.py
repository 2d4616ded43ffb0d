"""The 3 a.m. story, end to end, on real processes: a partner goes down and comes back.

What ops must get, in order, with nothing but the service's own outputs:
1. the ERROR line in the deliveries worker's log naming the partner and the opened circuit;
2. the `partner.circuit_opened` notice at the ops webhook, signed (verified with the
   `standardwebhooks` library partners use);
3. `syndication status --check` exits 2 (CRITICAL) naming the partner;
4. the "partner failing" alert rule is true on the live `/metrics` (promtool's rule engine, with
   the scraped state held for the rule's 10 minutes);
then, once the partner answers again: the recovery logged (WARNING) and notified
(`partner.recovered`, with the incident's deliveries affected), every delivery landed once per
webhook-id, and `status --check` back to 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import requests
import yaml
from standardwebhooks import Webhook

from tests.conftest import API_KEY
from tests.support import promtool
from tests.support.events import article_event
from tests.support.processes import api, free_port, private_env, redis_server, start_all, stop_all, wait_for, worker
from tests.support.receiver import Receiver, Reply

OPS_SECRET = "whsec_" + "b3BzLXdlYmhvb2stc2VjcmV0LWtleS0wMTIzNDU2Nzg5"  # base64 of a 30-byte key
ALICE = "alice-ops-key-0123456789"


def _check(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "syndication.cli", "status", "--check"], env=env,
                          capture_output=True, text=True, timeout=30)


def _log_lines(path, level: str) -> list[dict]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("level") == level:
            out.append(doc)
    return out


def _notices(ops: Receiver, kind: str) -> list[dict]:
    found = []
    for r in ops.requests:
        doc = json.loads(r.body)
        if doc.get("type") == kind:
            found.append({"doc": doc, "request": r})
    return found


def test_partner_outage_is_loud_alerting_and_heals(tmp_path):
    promtool.require()
    wire, ops = Receiver.start(), Receiver.start()
    redis = redis_server(tmp_path).start()
    procs = [redis]
    try:
        port = free_port()
        partners_file = tmp_path / "partners.yaml"
        partners_file.write_text(yaml.safe_dump({"partners": [{
            "id": "wire", "url": wire.url, "format": "json", "allow_private_network": True,
            "breaker_threshold": 2, "breaker_cooldown": 1, "retry": {"base_delay": 0.2, "max_delay": 0.5}}]}))
        env = private_env(f"redis://127.0.0.1:{redis.port}/0", port, partners_file, "o",
                          SYNDICATION_API_KEYS=API_KEY, SYNDICATION_OPS_KEYS=f"alice:{ALICE}",
                          SYNDICATION_OPS_WEBHOOK_URL=ops.url, SYNDICATION_OPS_WEBHOOK_SECRET=OPS_SECRET)
        import redis as redis_py

        # As production runs it (docker-compose.yml): a memory ceiling and no eviction, or status warns.
        redis_py.Redis(port=redis.port).config_set("maxmemory", "1gb")
        redis_py.Redis(port=redis.port).config_set("maxmemory-policy", "noeviction")
        deliveries = worker("deliveries", env, tmp_path, concurrency=2)
        procs += [api(env, tmp_path, port), worker("events", env, tmp_path), worker("feeds", env, tmp_path),
                  deliveries]
        start_all(procs[1:])  # cold starts overlap
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _check(env).returncode == 0, timeout=30, what="status --check OK before the outage")

        # -- the outage ------------------------------------------------------------------------
        wire.default = Reply(503)
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        events = [article_event(f"outage-{i}-{uuid.uuid4().hex[:6]}") for i in range(4)]
        for ev in events:
            assert requests.post(f"{base}/v1/events", data=json.dumps(ev), headers=headers, timeout=10).status_code == 202

        opened = wait_for(lambda: [d for d in _log_lines(deliveries.log, "error") if "circuit opened" in d["msg"]],
                          timeout=30, what="the ERROR line of the opened circuit")
        assert opened[0]["partner"] == "wire" and "HTTP 503" in opened[0]["msg"]
        retry_lines = [d for d in _log_lines(deliveries.log, "warning") if d.get("outcome") == "retry"]
        assert retry_lines and all(d["partner"] == "wire" for d in retry_lines)

        notice = wait_for(lambda: _notices(ops, "partner.circuit_opened"), timeout=30, what="circuit_opened notice")[0]
        req = notice["request"]
        Webhook(OPS_SECRET).verify(req.body, {k: v for k, v in req.headers.items()})  # raises if unsigned/forged
        assert notice["doc"]["data"]["partner"] == "wire" and notice["doc"]["data"]["status"] in ("503", 503)

        check = _check(env)
        assert check.returncode == 2, check.stdout + check.stderr
        assert check.stdout.startswith("CRITICAL") and "wire" in check.stdout and len(check.stdout.splitlines()) == 1

        scrape = requests.get(f"{base}/metrics", timeout=10).text
        assert promtool.alert_fires("SyndicationPartnerFailing", scrape, {"partner": "wire"}, after=600)
        # ... and the same rule says nothing of a partner that is fine (the rule can fail).
        assert not promtool.alert_fires("SyndicationPartnerFailing", scrape, {"partner": "ops-webhook"}, after=600)

        # -- the recovery ----------------------------------------------------------------------
        wire.default = Reply(200)
        recovered = wait_for(lambda: _notices(ops, "partner.recovered"), timeout=30, what="recovered notice")[0]
        assert recovered["doc"]["data"]["partner"] == "wire" and recovered["doc"]["data"]["affected"] >= 1
        assert [d for d in _log_lines(deliveries.log, "warning") if "recovered" in d["msg"]]
        wait_for(lambda: len({r.webhook_id for r in wire.requests if r.status_sent == 200}) >= len(events),
                 timeout=30, what="every delivery landed")
        assert len(_notices(ops, "partner.circuit_opened")) == 1  # one incident, one notice: not one per failure
        wait_for(lambda: _check(env).returncode == 0, timeout=30, what="status --check OK after the recovery")
    finally:
        stop_all(procs[1:])  # then the Redis they use
        procs[0].stop()
        wire.stop()
        ops.stop()
