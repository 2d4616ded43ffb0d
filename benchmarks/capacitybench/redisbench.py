"""`redis-benchmark` of this box: how many commands/s one Redis primary does for the mix the service sends.

Runs against a throwaway redis-server of its own (free port, AOF everysec as production), after
the service is stopped so that nothing else competes for the cores. Each run is bounded by its
request count. Requests/s is what redis-benchmark prints; commands/s counts what Redis executed
(INFO total_commands_processed delta, so a Lua script's inner calls count as the service's figure
counts them) and the server's own CPU seconds (/proc), so a figure can be given per core.

The runs: SET/GET/HSET/ZADD from 50 clients one request at a time, then pipelined 16 deep (the
service sends pipelines and MULTI blocks of that order), and an EVAL shaped like the push path's
`begin` script (5 calls on a hash and two sorted sets).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import time
from pathlib import Path

from benchmarks.harness import HOST, BenchError, processes
from benchmarks.harness.cpu import cpu_seconds

# The shape of delivery/push.py's _BEGIN: read the circuit, trim and count the slots, claim an id.
LUA = ("redis.call('HGET', KEYS[1], 'state'); redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', 0); "
       "redis.call('ZADD', KEYS[2], 1, ARGV[1]); redis.call('ZADD', KEYS[3], 2, ARGV[1]); "
       "return redis.call('ZCARD', KEYS[3])")


def runs(n: int) -> list[tuple[str, list[str]]]:
    eval_cmd = ["-r", "100000", "EVAL", LUA, "3", "c:__rand_int__", "s:__rand_int__", "i:__rand_int__",
                "__rand_int__"]
    return [
        ("SET/GET/HSET/ZADD, 50 clients, -P 1", ["-n", str(n), "-c", "50", "-P", "1", "-t", "set,get,hset,zadd"]),
        ("SET/GET/HSET/ZADD, 50 clients, -P 16", ["-n", str(n), "-c", "50", "-P", "16", "-t", "set,get,hset,zadd"]),
        ("EVAL begin-shaped Lua (5 calls), -P 1", ["-n", str(n // 2), "-c", "50", "-P", "1", *eval_cmd]),
        ("EVAL begin-shaped Lua (5 calls), -P 16", ["-n", str(n // 2), "-c", "50", "-P", "16", *eval_cmd]),
    ]


def _parse(text: str) -> dict[str, float]:
    """test name -> requests/s from `--csv` output (a header line, then one row per test)."""
    out = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 2 and row[0] != "test":
            try:
                out[row[0]] = float(row[1])
            except ValueError:
                continue
    return out


def measure(procs: processes.Processes, logdir: Path, requests: int = 100_000) -> list[dict]:
    exe = shutil.which("redis-benchmark")
    if not exe:
        raise BenchError("redis-benchmark is not on PATH (Debian: it comes with redis-tools / redis-server)")
    here = logdir / "redis-benchmark"
    here.mkdir(exist_ok=True)
    url, server = processes.start_redis(procs, here, aof=True)
    import redis

    r = redis.Redis.from_url(url)
    port = url.rsplit(":", 1)[1].split("/")[0]
    results = []
    try:
        for label, opts in runs(requests):
            r.flushall()
            before = int(r.info("stats")["total_commands_processed"])
            cpu0, t0 = cpu_seconds(server.pid), time.time()
            out = subprocess.run([exe, "-h", HOST, "-p", port, "-q", "--csv", *opts], capture_output=True, text=True,
                                 timeout=300)
            wall, cpu = time.time() - t0, cpu_seconds(server.pid) - cpu0
            if out.returncode != 0:
                raise BenchError(f"redis-benchmark failed ({out.returncode}): {out.stderr[-500:]}")
            rps = _parse(out.stdout)
            executed = int(r.info("stats")["total_commands_processed"]) - before - 2  # our flushall + info
            each = int(opts[opts.index("-n") + 1])
            busy_s = sum(each / v for v in rps.values() if v)  # the tests' own time, without start-up
            n_req = each * len(rps)
            results.append({"run": label, "requests_per_s": rps, "requests": n_req, "commands": executed,
                            "commands_per_request": executed / n_req if n_req else float("nan"),
                            "commands_per_s": executed / busy_s if busy_s else float("nan"),
                            "wall_s": wall, "server_cpu_s": cpu,
                            "commands_per_server_cpu_s": executed / cpu if cpu > 0 else float("nan")})
    finally:
        procs.stop([server])
    return results
