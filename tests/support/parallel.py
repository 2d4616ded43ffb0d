"""The suite on several pytest-xdist workers (`make test` runs `pytest -n 2`), with the serial run's guarantees.

Each worker is a pytest session of its own: its own throwaway redis-server (the session
fixture picks a free port), its own `service` and partner servers. Whole files go to one
worker (their module fixtures start a stack once), and `PinnedFileScheduling` below keeps
the two promises the serial order made:

- every file that uses the session `service` runs on one worker, the "home" one (the
  lowest gateway id still up), in collection order: the W3C check of the served feeds then
  judges what every such test left in that one service, as in a serial run;
- files holding a test marked `alone` (it bounds latency or throughput, or needs a busy stream
  served in time: a second worker's load would fail it, not the code) and then the files holding
  a `runs_last` test (tests/support/ordering.py) are held back until every other file has run
  and every other worker has finished its session, then run on home, in that order.
  A worker that finishes writes the census of its Redis (every key, its type, a hash's
  fields: `snapshot`) into the run's directory as its session Redis stops, so the key-family
  census (tests/integration/test_key_families.py) judges every key any worker's processes wrote.

How workers tell the controller what they collected: each writes `plan-<id>.json` (nodeid ->
[runs_last rank, uses `service`, marked `alone`]) into a directory the controller made and handed to every
worker (`workerinput`), before it reports its collection; the scheduler reads it then.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

from xdist.scheduler import LoadFileScheduling  # a dev dependency (pyproject.toml)

from tests.support import ordering

RUN_DIR = "syndication_run_dir"  # the workerinput key
ALONE = "alone"
ALONE_DOC = (f"{ALONE}: with pytest-xdist, this test runs when no other worker runs (it bounds latency or "
             "throughput); tests/support/parallel.py")


def run_dir(config) -> Path | None:
    """The directory the workers of this run share; None outside xdist (a serial run)."""
    workerinput = getattr(config, "workerinput", None)
    return Path(workerinput[RUN_DIR]) if workerinput and RUN_DIR in workerinput else None


def worker_id(config) -> str:
    return config.workerinput["workerid"]


def snapshot(redis) -> list[tuple[str, str, list[str] | None]]:
    """(key, type, hash fields or None) of every key in `redis`: what the key-family census judges."""
    out = []
    for raw in redis.scan_iter(count=1000):
        kind = redis.type(raw).decode()
        fields = sorted(f.decode() for f in redis.hkeys(raw)) if kind == "hash" else None
        out.append((raw.decode(), kind, fields))
    return out


def write_snapshot(config, redis) -> None:
    """On an xdist worker, as its session Redis stops: that Redis's census, for the home worker's census test."""
    folder = run_dir(config)
    if folder is not None:
        tmp = folder / f".census-{worker_id(config)}.json"
        tmp.write_text(json.dumps(snapshot(redis)))
        tmp.rename(folder / f"census-{worker_id(config)}.json")  # whole or absent


def other_workers_snapshots(config, timeout: float = 60.0) -> list[tuple[str, str, list[str] | None]]:
    """Every other worker's census (empty in a serial run). The scheduler runs the census only
    once the other workers finished, so their files are there; the wait covers a slow write."""
    folder = run_dir(config)
    if folder is None:
        return []
    me, count = worker_id(config), config.workerinput["workercount"]
    others = [f"gw{i}" for i in range(count) if f"gw{i}" != me]
    deadline = time.monotonic() + timeout
    while True:
        missing = [w for w in others if not (folder / f"census-{w}.json").exists()]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not missing, f"no census from worker(s) {missing}: did they crash?"
    return [tuple(rec) for w in others for rec in json.loads((folder / f"census-{w}.json").read_text())]


class Plugin:
    """Registered by tests/conftest.py when pytest-xdist is installed."""

    def __init__(self) -> None:
        self.folder: Path | None = None

    # controller side
    def pytest_configure_node(self, node) -> None:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="syndication-xdist-"))
        node.workerinput[RUN_DIR] = str(self.folder)

    def pytest_xdist_make_scheduler(self, config, log):
        if self.folder is None:  # no worker was configured: nothing to schedule
            return None
        return PinnedFileScheduling(config, log, self.folder)

    def pytest_unconfigure(self, config) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    # worker side
    def pytest_sessionfinish(self, session) -> None:
        """A worker that never started a session Redis leaves an empty census (before it reports finishing)."""
        folder = run_dir(session.config)
        if folder is not None and not (folder / f"census-{worker_id(session.config)}.json").exists():
            (folder / f"census-{worker_id(session.config)}.json").write_text("[]")

    def pytest_collection_modifyitems(self, config, items) -> None:
        folder = run_dir(config)
        if folder is not None:
            plan = {item.nodeid: [ordering.rank(item), "service" in getattr(item, "fixturenames", ()),
                                  item.get_closest_marker(ALONE) is not None] for item in items}
            tmp = folder / f".plan-{worker_id(config)}.json"
            tmp.write_text(json.dumps(plan))
            tmp.rename(folder / f"plan-{worker_id(config)}.json")


class PinnedFileScheduling(LoadFileScheduling):
    """Whole files per worker (xdist's loadfile), except: files using `service` only on home, and
    files holding an `alone` or a `runs_last` test only after everything else, on home (module docstring)."""

    def __init__(self, config, log, folder: Path):
        super().__init__(config, log)
        self.folder = folder
        self.pinned: set[str] = set()
        self.held: OrderedDict[str, dict[str, bool]] = OrderedDict()

    def _home(self):
        return min(self.nodes, key=lambda n: n.gateway.id) if self.nodes else None

    @property
    def tests_finished(self) -> bool:
        return not self.held and super().tests_finished

    @property
    def has_pending(self) -> bool:
        return bool(self.held) or super().has_pending

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:
            for node in self.nodes:
                self._reschedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = list(next(iter(self.registered_collections.values())))
        if not self.collection:
            return
        node = next(iter(self.registered_collections))
        plan = json.loads((self.folder / f"plan-{node.gateway.id}.json").read_text())
        scopes: OrderedDict[str, dict[str, bool]] = OrderedDict()
        last_rank: dict[str, float] = {}
        for nodeid in self.collection:
            scope = self._split_scope(nodeid)
            scopes.setdefault(scope, {})[nodeid] = False
            rank, uses_service, alone = plan[nodeid]
            if uses_service:
                self.pinned.add(scope)
            if alone and rank is None:
                rank = float("-inf")  # before every runs_last file
            if rank is not None:
                last_rank[scope] = min(rank, last_rank.get(scope, rank))
        for scope, unit in scopes.items():
            if scope not in last_rank:
                self.workqueue[scope] = unit
        for scope in sorted(last_rank, key=lambda s: last_rank[s]):  # stable: collection order within a rank
            self.held[scope] = scopes[scope]
        for node in self.nodes:
            self._reschedule(node)

    def remove_node(self, node):
        crashitem = super().remove_node(node)
        self._release_held()
        return crashitem

    def _next_scope(self, node) -> str | None:
        home = node is self._home()
        for scope in self.workqueue:
            if home or scope not in self.pinned:
                if home and scope not in self.pinned and any(s in self.pinned for s in self.workqueue):
                    continue  # home takes the pinned files first: only it can run them
                return scope
        return None

    def _release_held(self) -> None:
        """Held files go to home once nothing else is queued and home is the only worker left
        (the others finished their sessions: their census files are written)."""
        home = self._home()
        if not self.held or self.workqueue or home is None or len(self.nodes) > 1:
            return
        while self.held:
            scope, unit = self.held.popitem(last=False)
            self._send(home, scope, unit)

    def _send(self, node, scope: str, unit: dict[str, bool]) -> None:
        self.assigned_work.setdefault(node, {})[scope] = unit
        collection = self.registered_collections[node]
        node.send_runtest_some([collection.index(nodeid) for nodeid, done in unit.items() if not done])

    def _reschedule(self, node) -> None:
        # A worker runs a test only once it holds the next one (or is told to stop): keep more
        # than one queued while there is work it may take, as xdist's own schedulers do.
        if node.shutting_down:
            return
        while self._pending_of(self.assigned_work[node]) <= 2:
            scope = self._next_scope(node)
            if scope is None:
                break
            self._send(node, scope, self.workqueue.pop(scope))
        else:
            return
        if node is self._home() and self.held:
            self._release_held()  # once the others are gone; until then home waits, its last test queued
        elif not self.workqueue or node is not self._home():
            node.shutdown()  # nothing it may run is left (a non-home worker never runs pinned files)
