"""More feeds than feed threads: coalescing holds no thread, and a burst's last event is rendered.

A service of this test's own (real API, events and feeds workers, throwaway Redis) with FEEDS
feeds and a feeds worker of THREADS threads. A burst posts events to every feed at once. The
render window is a Redis key that expires (feeds/index.py), so a render never waits in a thread
for its window: every feed ends current within about a window and a sweep of the burst's last
202, and renders per feed stay at about one per window. A worker thread sleeping through each
window would make the feeds queue behind one another (FEEDS / THREADS windows).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import yaml

from syndication.configuration import load_settings
from syndication.identity import article_id_from_uri
from syndication.infra.context import Context
from syndication.ops.housekeeping import SWEEP_EVERY
from tests.support.events import article_event
from tests.support.processes import api, free_port, redis_server, wait_for, worker

pytestmark = pytest.mark.integration
FEEDS, THREADS, PER_FEED, WINDOW = 32, 2, 20, 1.0
SLACK = 2.0  # a loaded test machine: task queueing, process scheduling, the render itself


def test_a_burst_across_more_feeds_than_feed_threads_ends_current_everywhere(tmp_path):
    store = redis_server(tmp_path).start()
    key, port = f"co-key-{uuid.uuid4().hex[:8]}", free_port()
    feeds_file = tmp_path / "feeds.yaml"
    names = [f"desk-{i}" for i in range(FEEDS)]
    feeds_file.write_text(yaml.safe_dump({"feeds": [
        {"name": name, "title": name, "language": "en", "filters": {"categories": [f"Desk{i}"]}}
        for i, name in enumerate(names)]}))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
           "SYNDICATION_REDIS_URL": f"redis://127.0.0.1:{store.port}/0", "SYNDICATION_KEY_PREFIX": "co:",
           "SYNDICATION_API_KEYS": key, "SYNDICATION_FEEDS_FILE": str(feeds_file),
           "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}", "SYNDICATION_RENDER_WINDOW": str(WINDOW),
           "PYTHONUNBUFFERED": "1"}
    ctx = Context.build(load_settings(env))
    procs = [api(env, tmp_path, port), worker("events", env, tmp_path),
             worker("feeds", env, tmp_path, concurrency=THREADS)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    events = [article_event(f"co-{i}-{n}", categories=[f"Desk{i}"]) for n in range(PER_FEED) for i in range(FEEDS)]
    wanted = {name: {f"co-{i}-{n}" for n in range(PER_FEED)} for i, name in enumerate(names)}

    def renders() -> dict[str, int]:
        pipe = ctx.redis.pipeline(transaction=False)
        for name in names:
            pipe.hget(ctx.keys.feed_stats(name), "renders")
        return {name: int(n or 0) for name, n in zip(names, pipe.execute())}

    def send(chunk: list[dict]) -> float:
        session = requests.Session()
        for ev in chunk:
            resp = session.post(f"http://127.0.0.1:{port}/v1/events", data=json.dumps(ev), headers=headers,
                                timeout=30)
            assert resp.status_code == 202, resp.text
        return time.time()

    try:
        for proc in procs:
            proc.start()
        # Every feed rendered once (empty) and out of its window before the burst.
        wait_for(lambda: all(renders().values()), timeout=30, what="every feed's first render")
        time.sleep(WINDOW)  # noqa: the windows of those first renders pass (a condition would be the same wait)
        before, started = renders(), time.time()
        with ThreadPoolExecutor(4) as pool:
            last_202 = max(pool.map(send, [events[i::4] for i in range(4)]))
        current_at: dict[str, float] = {}

        def all_current() -> bool:
            pipe = ctx.redis.pipeline(transaction=False)
            for name in names:
                pipe.hget(ctx.keys.feed_rendered(name, "json"), "body")
            for name, body in zip(names, pipe.execute()):
                if name not in current_at and {article_id_from_uri(item["id"]) for item in json.loads(body)["items"]} >= wanted[name]:
                    current_at[name] = time.time()
            return len(current_at) == FEEDS

        bound = WINDOW + SWEEP_EVERY + SLACK
        wait_for(all_current, timeout=60, interval=0.02, what="every feed showing all its events")
        lag = {name: round(at - last_202, 2) for name, at in current_at.items()}
        wait_for(lambda: not ctx.redis.zcard(ctx.keys.feeds_dirty) and not any(
            ctx.redis.exists(ctx.keys.feed_render_lock(n)) for n in names), timeout=30, what="renders settled")
        span = time.time() - started
        counts = {name: n - before[name] for name, n in renders().items()}
        most = int(span / WINDOW) + 2  # one per window, and one under way as the burst began
        print(f"\n{FEEDS} feeds on {THREADS} feed threads: burst of {len(events)} events over "
              f"{last_202 - started:.1f}s; every feed current {max(lag.values()):.2f}s after the last 202 "
              f"(bound {bound:.1f}s); renders per feed {min(counts.values())}-{max(counts.values())} "
              f"in {span:.1f}s (at most {most})")
        assert max(lag.values()) <= bound, lag
        assert all(1 <= n <= most for n in counts.values()), counts
    finally:
        for proc in reversed(procs):
            proc.stop()
        store.stop()
