"""The fault-injection harness: the whole service as OS processes, a steady event stream, end-state checks.

    with Cluster(tmp) as c:                     # redis-server (AOF everysec), API, 3 workers, 2 partners
        stream = Stream(c, events=300, rate=25) # posts at a steady rate from 2 threads, retrying until answered
        stream.start()
        snap, looks = c.kill_when_busy("deliveries", lambda s: sum(s.slots.values()))  # frozen, read, kill -9
        ...; stream.join()                      # re-raises a sender's error; every planned event answered 2xx
        report = check(c, stream, "name", fault_end=t)   # raises AssertionError on any violation

One module per concept:
    config.py      what the cluster is configured with; `Timing`, which every recovery bound is made of
    processes.py   process control: the AOF redis-server, kill -9, starting things at once
    cluster.py     the service and its two partners as processes, and the faults injected into it
    inflight.py    work taken and not finished, read from Redis while its holder is frozen
    stream.py      the load generator, and the ledger of what it sent and what was answered
    end_state.py   `check`: the settled service against the truth the stream recorded
"""

from tests.faults.harness.cluster import Cluster
from tests.faults.harness.config import API_KEY, FEEDS, PARTNERS, SECRET, SETTLE_BOUND, Timing
from tests.faults.harness.end_state import Report, check
from tests.faults.harness.inflight import InFlight
from tests.faults.harness.processes import RedisProc, kill, parallel
from tests.faults.harness.stream import Answer, Attempt, Stream, make_stream

__all__ = ["API_KEY", "FEEDS", "PARTNERS", "SECRET", "SETTLE_BOUND", "Answer", "Attempt", "Cluster", "InFlight",
           "RedisProc", "Report", "Stream", "Timing", "check", "kill", "make_stream", "parallel"]
