"""The naive baseline's Celery app and its one task (see benchmarks/naive/__init__.py).

Configured from the environment (set by stack.py): NAIVE_BROKER_URL (a throwaway Redis),
NAIVE_PARTNERS (push URLs, comma-separated), BENCH_WEBHOOK_SECRET (the partners' whsec_ secret).
Run as `celery -A benchmarks.naive.tasks worker -P prefork -c 2`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid

import requests
from celery import Celery

app = Celery("naive", broker=os.environ.get("NAIVE_BROKER_URL", "redis://127.0.0.1:1/1"))
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)

PARTNERS = [u for u in os.environ.get("NAIVE_PARTNERS", "").split(",") if u]
_KEY = base64.b64decode(os.environ.get("BENCH_WEBHOOK_SECRET", "whsec_").removeprefix("whsec_"))
USER_AGENT = "syndication/0.1.0 (+https://github.com/syndication/syndication)"  # same length as the service's
_session: requests.Session | None = None  # one per worker process (created after the fork)


def session() -> requests.Session:
    global _session
    if _session is None:
        _session = requests.Session()
        _session.headers["User-Agent"] = USER_AGENT
    return _session


@app.task(name="naive.push_event")
def push_event(event_json: str) -> None:
    """POST the event to every partner in turn: body, Standard Webhooks signature, one request each."""
    ev = json.loads(event_json)
    art = ev["article"]
    s = session()
    for url in PARTNERS:
        msg_id = "msg_" + uuid.uuid4().hex[:26]
        body = json.dumps({"delivery_id": msg_id, "event_id": ev["event_id"], "type": ev["type"],
                           "article": art}, ensure_ascii=False, separators=(",", ":")).encode()
        ts = str(int(time.time()))
        mac = hmac.new(_KEY, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
        headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": ts,
                   "webhook-signature": "v1," + base64.b64encode(mac).decode()}
        s.post(url, data=body, headers=headers, timeout=(5, 10))
