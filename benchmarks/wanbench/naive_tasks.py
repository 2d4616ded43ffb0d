"""The naive design at WAN latency: one Celery task per delivery (see benchmarks/naive/ for the per-event one).

What a first version would do when partners are far away: the API enqueues one task per partner
per event, and a worker with many greenlets (`-P gevent -c 500`; threads `-c 200` where gevent is
not installed) POSTs each, with one `requests.Session` per process, signed as the service signs.
No retries, no leases, no records: it only counts, in its broker's Redis, the deliveries that got a
2xx (`ok`) and those that did not (`lost`), for the benchmark's ledger.

Configured from the environment (set by designs.Naive): NAIVE_BROKER_URL, NAIVE_READ_TIMEOUT,
BENCH_WEBHOOK_SECRET; TLS trust from REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid

import redis
import requests
from celery import Celery

BROKER = os.environ.get("NAIVE_BROKER_URL", "redis://127.0.0.1:1/1")
app = Celery("naive_wan", broker=BROKER)
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)

LEDGER = "naive:ledger"
_KEY = base64.b64decode(os.environ.get("BENCH_WEBHOOK_SECRET", "whsec_").removeprefix("whsec_"))
_TIMEOUT = (3.0, float(os.environ.get("NAIVE_READ_TIMEOUT", "10")))
USER_AGENT = "syndication/0.1.0 (+https://github.com/syndication/syndication)"
_session: requests.Session | None = None
_redis: redis.Redis | None = None


def session() -> requests.Session:
    global _session
    if _session is None:
        _session = requests.Session()
        _session.headers["User-Agent"] = USER_AGENT
    return _session


def ledger() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(BROKER)
    return _redis


@app.task(name="naive_wan.push_one")
def push_one(url: str, event_json: str) -> None:
    """One delivery: render, sign, POST; count it as ok or lost."""
    ev = json.loads(event_json)
    msg_id = "msg_" + uuid.uuid4().hex[:26]
    body = json.dumps({"delivery_id": msg_id, "event_id": ev["event_id"], "type": ev["type"],
                       "article": ev["article"]}, ensure_ascii=False, separators=(",", ":")).encode()
    ts = str(int(time.time()))
    mac = hmac.new(_KEY, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": ts,
               "webhook-signature": "v1," + base64.b64encode(mac).decode()}
    try:
        r = session().post(url, data=body, headers=headers, timeout=_TIMEOUT)
        ok = 200 <= r.status_code < 300
    except requests.RequestException:
        ok = False
    ledger().hincrby(LEDGER, "ok" if ok else "lost", 1)
