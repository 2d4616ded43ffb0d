"""The whole service on a redis-server of this test's own: key prefix, queue depth, Redis down and back.

- every key the service writes, Celery's included, is under SYNDICATION_KEY_PREFIX (this Redis
  holds nothing else, so *every* key must carry the prefix);
- `syndication_queue_depth{queue}` counts messages no worker has taken;
- POST /v1/events answers 503 with `Retry-After` and `/readyz` 503 (saying nothing of where
  Redis is) while Redis is down (killed: a crash), `/healthz` still 200; both recover by themselves.

The session's shared Redis and service are never stopped: this test owns its redis-server and processes.
"""

from __future__ import annotations

import json
import os

import pytest
import redis
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from syndication.infra.keys import QUEUES
from tests.support import logscan
from tests.support.events import article_event
from tests.support.processes import api, free_port, redis_server, start_all, stop_all, wait_for, worker
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration


def depth(url: str, queue: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return next(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
                if s.name == "syndication_queue_depth" and s.labels == {"queue": queue})


def get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=5)
    except requests.RequestException:
        return None


def test_own_redis_prefix_queue_depth_and_an_outage(tmp_path, unique):
    store = redis_server(tmp_path).start()
    partner = Receiver.start()
    prefix, key = f"own{unique}:", f"own-publisher-{unique}"
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": [
        {"id": "own", "url": partner.url, "format": "json", "allow_private_network": True}]}))
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
           "SYNDICATION_REDIS_URL": f"redis://127.0.0.1:{store.port}/0", "SYNDICATION_KEY_PREFIX": prefix,
           "SYNDICATION_API_KEYS": key, "SYNDICATION_PARTNERS_FILE": str(partners_file),
           "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}", "SYNDICATION_WEBSUB_HUB": partner.url,
           "PYTHONUNBUFFERED": "1"}
    logscan.forbid_env(env)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    procs = [api(env, tmp_path, port)]
    try:
        procs[0].start()
        # No worker yet: the accepted events wait in events:pending, and one apply batch for all of
        # them waits on the events queue; the gauge counts that message.
        events = [article_event(f"own{i}-{unique}") for i in range(3)]
        for ev in events:
            assert requests.post(f"{base}/v1/events", data=json.dumps(ev), headers=headers, timeout=10).status_code == 202
        assert {q: depth(base, q) for q in QUEUES} == {"events": 1, "feeds": 0, "deliveries": 0}

        # Workers: everything drains, is applied, rendered, pushed, pinged.
        procs += [worker("events", env, tmp_path), worker("feeds", env, tmp_path, concurrency=2),
                  worker("deliveries", env, tmp_path)]
        start_all(procs[1:])  # cold starts overlap
        for ev in events:
            wait_for(lambda ev=ev: partner.for_article(ev["article"]["id"]), timeout=30, what="pushed")
        wait_for(lambda: (r := get(f"{base}/feeds/all.rss")) and r.ok and events[-1]["article"]["id"] in r.text,
                 timeout=30, what="rendered")
        wait_for(lambda: any(b"hub.mode=publish" in r.body for r in partner.requests), what="hub pinged")
        wait_for(lambda: depth(base, "events") == 0, what="events queue drained")

        client = redis.Redis(port=store.port)
        keys = [k.decode() for k in client.scan_iter(count=1000)]
        outside = [k for k in keys if not k.startswith(prefix)]
        assert not outside, f"keys outside {prefix!r}: {outside[:20]}"
        celery = [k for k in keys if k.startswith(f"{prefix}celery:")]
        assert any("_kombu.binding." in k for k in celery), keys  # Celery's own keys are there, prefixed
        assert {f"{prefix}event:{ev['event_id']}" for ev in events} <= set(keys)

        # Redis crashes (kill -9). Workers go first: this test is about what the API answers.
        for proc in procs[1:]:
            proc.stop()
        store.kill()
        down = requests.post(f"{base}/v1/events", data=json.dumps(article_event(f"down-{unique}")), headers=headers,
                             timeout=30)
        assert down.status_code == 503 and down.headers.get("Retry-After") == "1", (down.status_code, down.text)
        assert down.json()["error"] == "unavailable" and "same event_id" in down.json()["detail"]
        ready = requests.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        assert str(store.port) not in ready.text and "127.0.0.1" not in ready.text and "redis://" not in ready.text
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200

        store.start()  # back on the same port (empty: no persistence here), the API reconnects by itself
        wait_for(lambda: (r := get(f"{base}/readyz")) is not None and r.status_code == 200, timeout=30,
                 what="ready again")
        back = requests.post(f"{base}/v1/events", data=json.dumps(article_event(f"back-{unique}")), headers=headers,
                             timeout=10)
        assert back.status_code == 202, back.text
    finally:
        stop_all(procs)
        store.stop()
        partner.stop()
