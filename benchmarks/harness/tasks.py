"""Tasks finished per Celery worker, counted from Celery's task events (the workers run with -E).

Owns: `TaskCounter`. It subscribes to the `celeryev` fanout channels on the run's Redis (workers
batch their events on `task.multi`), keeps the task-succeeded events and tells the workers apart
by node name (`<worker spec name>@host`, the deliveries processes counted together); a push_batch result also says how many deliveries it made.
Counting from events, not from the workers' logs, keeps the workers at log level `warning`, as
the service runs them.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time


def _task_events(data) -> list:
    """The events in one pubsub message (a batch comes as a list); [] for anything else."""
    try:
        outer = json.loads(data)
        body = outer["body"]
        if outer.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        ev = json.loads(body)
    except (ValueError, KeyError, TypeError):
        return []
    return ev if isinstance(ev, list) else [ev]


class TaskCounter:
    def __init__(self, redis_url: str):
        import redis

        self.client = redis.Redis.from_url(redis_url)
        self.counts: dict[str, int] = {}
        self.delivered = 0
        self._pubsub = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        self.counts, self.delivered = {}, 0
        self._stop.clear()
        self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.psubscribe("*celeryev/task.*")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self._pubsub.get_message(timeout=0.2)
            if msg:
                for e in _task_events(msg["data"]):
                    self._count(e)

    def _count(self, e) -> None:
        if not isinstance(e, dict) or e.get("type") != "task-succeeded":
            return
        # Node names are `<spec name>@host` (topology.worker_specs): deliveries1, deliveries2 -> deliveries.
        worker = str(e.get("hostname", "?")).split("@", 1)[0].rstrip("0123456789")
        self.counts[worker] = self.counts.get(worker, 0) + 1
        if worker == "deliveries":
            # push_batch returns its outcome counts as "delivered=N,superseded=M,..."
            m = re.search(r"\bdelivered(?:=|': )(\d+)", str(e.get("result", "")))
            self.delivered += int(m.group(1)) if m else 0

    def stop(self) -> dict[str, int]:
        time.sleep(0.5)  # the last events are on their way
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self._pubsub:
            self._pubsub.close()
        return dict(self.counts)
