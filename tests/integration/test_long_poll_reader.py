"""The pull API's one change-log reader per API process (api/longpoll.py) on real processes.

A Redis and an API of this test's own (the Redis is restarted, so nothing shared), one pull
partner; entries are appended to the change log with the core's own `changelog.append`:

- waiters wake when an entry arrives, while exactly one client of the API process is blocked in
  XREAD, whatever the number of waiters;
- Redis restarts (no persistence: the log is gone): the reader reconnects by itself and blocks in
  XREAD on the new server; a cursor of the lost log lies beyond the new one (410, start again);
  a long poll from the start gets the next entry promptly;
- SIGTERM with long polls open: the API exits cleanly (the reader is cancelled, nothing leaks).
"""

from __future__ import annotations

import threading
import time

import pytest
import redis
import requests
import yaml

from syndication.configuration import load_settings
from syndication.infra.context import Context
from syndication.pipeline import changelog
from syndication.text import clean_article
from tests.support import logscan
from tests.support.events import article_event
from tests.support.processes import api, free_port, private_env, redis_server, wait_for

pytestmark = pytest.mark.integration

TOKEN = "reader-pull-token-0b9e"
logscan.forbid_env({"READER_PULL_TOKEN": TOKEN})


def _blocked_xreads(client: redis.Redis) -> int:
    return sum(1 for c in client.client_list() if c.get("cmd") == "xread" and "b" in c.get("flags", ""))


def test_one_reader_per_process_survives_a_redis_restart_and_stops_at_shutdown(tmp_path):
    store = redis_server(tmp_path).start()
    partners = tmp_path / "partners.yaml"
    partners.write_text(yaml.safe_dump({"partners": [
        {"id": "reader", "url": "http://127.0.0.1:9/unused", "format": "json", "allow_private_network": True,
         "pull": {"token_env": "READER_PULL_TOKEN"}}]}))
    port = free_port()
    env = private_env(f"redis://127.0.0.1:{store.port}/0", port, partners, "rdr", READER_PULL_TOKEN=TOKEN)
    proc = api(env, tmp_path, port)
    url = f"http://127.0.0.1:{port}/v1/partners/reader/items"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    ctx = Context.build(load_settings(env))
    seq = iter(range(1, 1000))

    def append() -> str:
        aid = f"reader-{next(seq)}"
        data = clean_article(article_event(aid, 1)["article"])
        changelog.append(ctx.redis, ctx.keys, article_id=aid, version=1, kind="published", event_id=f"e-{aid}",
                         data=data, now=time.time(), retention=3600)
        return aid

    def polls(n: int, **params) -> tuple[list[threading.Thread], list]:
        out: list = []

        def one():
            started = time.monotonic()
            resp = requests.get(url, params={"wait": 15, **params}, headers=headers, timeout=30)
            out.append((resp, time.monotonic() - started))

        threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
        for t in threads:
            t.start()
        return threads, out

    try:
        proc.start()
        first = append()
        page = requests.get(url, headers=headers, timeout=10).json()
        assert [i["article_id"] for i in page["items"]] == [first]
        old_cursor = page["next"]

        threads, out = polls(20, after=old_cursor)
        wait_for(lambda: _blocked_xreads(ctx.redis) == 1, 10, what="the reader blocked in XREAD")
        time.sleep(0.3)  # the 20 are waiting by now (an answer would need an entry: none yet)
        assert not out and _blocked_xreads(ctx.redis) == 1, "one XREAD for the process, not one per poll"
        woken = append()
        for t in threads:
            t.join(10)
        assert len(out) == 20 and all(r.status_code == 200 for r, _ in out)
        assert all([i["article_id"] for i in r.json()["items"]] == [woken] for r, _ in out)

        # Redis restarts empty: the reader finds it again by itself.
        store.kill()
        time.sleep(0.5)  # a moment of outage the reader must notice (it logs and backs off)
        store.start()
        wait_for(lambda: _blocked_xreads(ctx.redis) == 1, 20, what="the reader back in XREAD")
        gone = requests.get(url, params={"after": old_cursor}, headers=headers, timeout=10)
        assert gone.status_code == 410 and "beyond the newest entry" in gone.json()["detail"], gone.text
        threads, out = polls(3)
        time.sleep(0.3)
        posted = time.monotonic()
        after_restart = append()
        for t in threads:
            t.join(10)
        assert [[i["article_id"] for i in r.json()["items"]] for r, _ in out] == [[after_restart]] * 3
        assert time.monotonic() - posted < 2, "waiters woke late after the restart"
        assert "change log reader reconnected" in proc.log.read_text()

        # Shutdown with polls open: a clean exit, the reader cancelled.
        threads, out = polls(5)
        time.sleep(0.3)
        stopped = time.monotonic()
        proc.stop(timeout=15)
        took = time.monotonic() - stopped
        # uvicorn re-raises the SIGTERM it handled once it has shut down: -15 is its clean exit.
        assert proc.p.returncode in (0, -15) and took < 10, (proc.p.returncode, took, proc.tail())
        assert "change log reader stopped" in proc.log.read_text() and "Task was destroyed" not in proc.log.read_text()
        print(f"\nshutdown with 5 long polls open took {took:.1f} s")
    finally:
        proc.stop()
        store.stop()
