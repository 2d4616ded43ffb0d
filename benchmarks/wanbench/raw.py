"""The raw client ceiling at the same round trip: a plain `requests` thread pool, one POST per partner.

Run as its own process (`python -m benchmarks.wanbench.raw CONFIG.json`), so that its CPU is its
own: what Python with `requests` and nothing else does when it pushes one event to every partner.
Each partner gets a `requests.Session` of its own (kept across events: keep-alive, as a service
would), every POST is signed (Standard Webhooks, the run's secret) with a delivery id of its own,
and nothing is retried or recorded. Its TLS trust comes from the environment (REQUESTS_CA_BUNDLE).

Config (JSON): partners [[id, url]], events [{article, body (a file: the push body with the
placeholder delivery id), at (seconds after start_at; paced mode)}], mode `sequential` (each
event once the previous one has every answer, `gap` s apart) or `paced` (each at its time),
threads, timeouts [connect, read], start_at. Prints one JSON line: per event the scheduled time,
the last 2xx, ok and lost (non-2xx or no answer), and the process's CPU seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait

import requests

PLACEHOLDER = b"msg_" + b"0" * 26
USER_AGENT = "syndication/0.1.0 (+https://github.com/syndication/syndication)"  # the service's length


class Client:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.key = base64.b64decode(os.environ["BENCH_WEBHOOK_SECRET"].removeprefix("whsec_"))
        self.timeouts = tuple(cfg["timeouts"])
        self.sessions: dict[str, requests.Session] = {}
        self.lock = threading.Lock()

    def session(self, pid: str) -> requests.Session:
        with self.lock:
            s = self.sessions.get(pid)
            if s is None:
                s = self.sessions[pid] = requests.Session()
                s.headers["User-Agent"] = USER_AGENT
            return s

    def post(self, pid: str, url: str, template: bytes) -> tuple[bool, float]:
        did = "msg_" + uuid.uuid4().hex[:26]
        body = template.replace(PLACEHOLDER, did.encode(), 1)
        ts = str(int(time.time()))
        mac = hmac.new(self.key, f"{did}.{ts}.".encode() + body, hashlib.sha256).digest()
        headers = {"Content-Type": "application/json", "webhook-id": did, "webhook-timestamp": ts,
                   "webhook-signature": "v1," + base64.b64encode(mac).decode()}
        try:
            r = self.session(pid).post(url, data=body, headers=headers, timeout=self.timeouts)
            r.content  # noqa: B018 (read the answer)
            return 200 <= r.status_code < 300, time.time()
        except requests.RequestException:
            return False, time.time()


def main(path: str) -> None:
    cfg = json.loads(open(path).read())
    client = Client(cfg)
    partners = cfg["partners"]
    events = [{**e, "template": open(e["body"], "rb").read()} for e in cfg["events"]]
    out = []
    with ThreadPoolExecutor(max_workers=cfg["threads"]) as pool:
        def fan_out(e):
            return [pool.submit(client.post, pid, url, e["template"]) for pid, url in partners]

        cpu0 = time.process_time()
        if cfg["mode"] == "sequential":
            for e in events:
                c0, t0 = time.process_time(), time.time()
                results = [f.result() for f in fan_out(e)]
                out.append(summary(e, t0, results, time.process_time() - c0))
                time.sleep(cfg.get("gap", 1.0))
        else:
            start = cfg["start_at"]
            pending = []
            for e in events:
                delay = start + e["at"] - time.time()
                if delay > 0:
                    time.sleep(delay)
                pending.append((e, start + e["at"], fan_out(e)))
            wait([f for _, _, fs in pending for f in fs])
            out = [summary(e, t0, [f.result() for f in fs], float("nan")) for e, t0, fs in pending]
        cpu = time.process_time() - cpu0
    print(json.dumps({"events": out, "cpu_s": cpu, "threads": cfg["threads"]}).replace("NaN", "null"), flush=True)


def summary(e: dict, t_sched: float, results: list[tuple[bool, float]], cpu: float) -> dict:
    ok = [t for good, t in results if good]
    return {"article": e["article"], "t_sched": t_sched, "t_last_ok": max(ok) if ok else None,
            "ok": len(ok), "lost": len(results) - len(ok), "cpu_s": cpu}


if __name__ == "__main__":
    main(sys.argv[1])
