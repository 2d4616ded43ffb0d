"""The xdist scheduler of `make test` (tests/support/parallel.py) keeps the serial run's promises.

Two fake workers run a small collection the way xdist workers do (a worker runs a test only
once it holds the next one, or has been told to stop; a stopped worker reports finishing):
every test runs once; files using `service` run on the home worker only; the `alone` file runs
after every other file, once the other worker has finished; the `runs_last` files run after it,
lower rank first, the census last of all.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

from xdist.remote import Producer

from tests.support.parallel import PinnedFileScheduling

# nodeid -> [runs_last rank, uses service, alone], in collection order (runs_last ones at the tail)
PLAN = {
    "tests/a.py::t1": [None, True, False], "tests/a.py::t2": [None, True, False],
    "tests/a2.py::t1": [None, True, False],
    "tests/b.py::t1": [None, False, False], "tests/b.py::t2": [None, False, False],
    "tests/c.py::t1": [None, False, False],
    "tests/d.py::t1": [None, True, False],
    "tests/f.py::t1": [None, False, True], "tests/f.py::t2": [None, False, True],
    "tests/census.py::matcher": [None, False, False],
    "tests/w3c.py::feeds": [0, True, False],
    "tests/census.py::census": [1, True, False],
}
PINNED = {"tests/a.py", "tests/a2.py", "tests/d.py", "tests/w3c.py", "tests/census.py"}


class Worker:
    def __init__(self, gid: str):
        self.gateway = SimpleNamespace(id=gid)
        self.shutting_down, self.queue, self.finished = False, [], False

    def send_runtest_some(self, indices):
        self.queue.extend(indices)

    def shutdown(self):
        self.shutting_down = True


def run(tmp_path, steps: list[str]) -> list[tuple[str, str]]:
    """The events of one run, ("gw0", nodeid) per test run and ("gw1", "finished"); each round,
    the workers take a step in the order `steps` names them (["gw1", "gw1", "gw0"]: gw1 twice as fast)."""
    (tmp_path / "plan-gw0.json").write_text(json.dumps(PLAN))
    config = SimpleNamespace(getvalue=lambda name: ["2*popen"], option=SimpleNamespace())
    sched = PinnedFileScheduling(config, Producer("test", enabled=False), tmp_path)
    workers = [Worker("gw0"), Worker("gw1")]
    for w in workers:
        sched.add_node(w)
        sched.add_node_collection(w, list(PLAN))
    sched.schedule()
    events, order = [], [next(w for w in workers if w.gateway.id == gid) for gid in steps]
    for _ in range(200):
        progressed = False
        for w in order:
            if w.finished:
                continue
            if len(w.queue) >= 2 or (w.shutting_down and w.queue):
                index = w.queue.pop(0)
                events.append((w.gateway.id, list(PLAN)[index]))
                sched.mark_test_complete(w, index)
                progressed = True
            elif w.shutting_down:
                w.finished = True
                events.append((w.gateway.id, "finished"))
                sched.remove_node(w)
                progressed = True
            if sched.tests_finished and not any(w.shutting_down for w in workers if not w.finished):
                for other in workers:
                    other.shutdown()  # what xdist's DSession does once the scheduler says so
        if not progressed:
            break
    assert all(w.finished for w in workers), f"a worker never finished: {events}"
    return events


def test_pinned_files_run_on_home_and_held_files_after_everything_else(tmp_path):
    for steps in (["gw0", "gw1"], ["gw1", "gw0"], ["gw0"] * 3 + ["gw1"], ["gw1"] * 3 + ["gw0"]):
        events = run(tmp_path, steps)
        ran = [nodeid for _, nodeid in events if nodeid != "finished"]
        assert sorted(ran) == sorted(PLAN), events  # each test once
        assert all(gw == "gw0" for gw, nodeid in events if nodeid.split("::")[0] in PINNED), events
        assert any(gw == "gw1" for gw, _ in events if _ != "finished"), "the second worker ran nothing"
        gw1_done = events.index(("gw1", "finished"))
        alone = [i for i, (_, nodeid) in enumerate(events) if nodeid.startswith("tests/f.py")]
        others = [i for i, (_, nodeid) in enumerate(events)
                  if nodeid != "finished" and PLAN[nodeid][0] is None and not PLAN[nodeid][2]
                  and not nodeid.startswith("tests/census.py")]
        assert min(alone) > max(max(others), gw1_done), events
        # by rank: the W3C file (0), then the census file (1), its unmarked test with it
        assert ran[-3:] == ["tests/w3c.py::feeds", "tests/census.py::matcher", "tests/census.py::census"], events
