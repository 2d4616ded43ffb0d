"""The shared benchmark harness: everything benchmarks/feeds.py and benchmarks/push.py both need.

One concept per module (import them as `from benchmarks.harness import processes`):

    processes    child processes: redis-server on a free port (AOF everysec), the API, Celery workers,
                 and run_guarded(), the one runner that always stops them
    static_baseline  `syndication api` with static-bytes paths answered first: the same server's
                 HTTP ceiling, the baseline of feed serving (runs as its own process)
    partner      the fast loopback partner HTTP server (its own process) and the driver's handle on it
    load         HTTP load: GET load on the API (wrk, or a Python client) in interleaved rounds,
                 and the keep-alive POST loop that gives the push ceiling
    publish      POSTing events to /v1/events: as fast as N connections can, or at a fixed rate
    articles     realistic articles and the events that carry them
    cpu          per-process CPU time from /proc, once or sampled in the background
    redis_stats  Redis INFO deltas: commands executed, in all and by command
    tasks        tasks finished per Celery worker, from Celery's task events
    report       machine description, the exact reproduce command, rich tables, ratios, JSON output

Everything listens on and talks to 127.0.0.1 (HOST) only. The service under test is started
through its CLI (`python -m syndication.cli api`, `celery -A workers ...`) and driven through its
HTTP API; the harness reads the service's own Redis keys through a Context built in one place,
processes.service_context, so that a move of syndication modules is fixed there.

The submodules are not imported here: partner, load and static_baseline also run as their own
processes (`python -m benchmarks.harness.partner`), and importing them from the package would run
them twice.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository root: the service's processes run from it
HOST = "127.0.0.1"  # every benchmark server listens here and every client connects here
API_KEY = "bench-publisher-key"  # the publisher key the benchmark's service accepts
OPS_KEY = "bench-ops-key"  # the ops key, for reading delivery records through the API


class BenchError(RuntimeError):
    """A failure with a message meant for the person running the benchmark."""
