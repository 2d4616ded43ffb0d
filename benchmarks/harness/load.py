"""HTTP load generators, each in processes of its own so that the server measured keeps its CPU.

Owns:

- GET load on the API (feed serving): `load_wrk` runs `wrk` when it is on PATH; `load_python`
  is the fallback, keep-alive http.client connections in `spawn`ed processes, one thread per
  connection, closed-loop. Both return the same dict (rps, p50/p99 ms, requests, statuses,
  bytes per response, errors, client CPU). `probe` makes one request, to check a scenario
  before timing it.
- `interleaved_rounds` / `summarise_rounds`: several scenarios measured in rounds of rotating
  order, with the CPU of named processes per round, then one row per scenario.
- The POST ceiling: `post_loop` is a plain requests.Session keep-alive POST loop (run as
  `python -m benchmarks.harness.load post-loop PORT BODY_FILE SECONDS [HEADERS_JSON]`, the extra
  fixed headers being the rest of what the service sends, e.g. a webhook-signature of the same
  length); `run_post_loop` runs it in a process of its own and returns its results.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.harness import HOST, ROOT, BenchError
from benchmarks.harness.cpu import cpu_of, cpu_since
from benchmarks.harness.report import quantile

# =========================================================================== the Python GET client


def _client_worker(port: int, path: str, headers: dict, conns: int, start_at: float, duration: float, out):
    """One load process: `conns` keep-alive connections, one thread each, closed-loop."""
    results = []

    def loop():
        lat, statuses, nbytes, errors = [], {}, 0, 0
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        while time.time() < start_at:
            time.sleep(0.001)
        end = time.perf_counter() + duration
        while (t0 := time.perf_counter()) < end:
            try:
                conn.request("GET", path, headers=headers)
                r = conn.getresponse()
                body = r.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
                continue
            lat.append(time.perf_counter() - t0)
            statuses[r.status] = statuses.get(r.status, 0) + 1
            nbytes += len(body)
        conn.close()
        results.append((lat, statuses, nbytes, errors))

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(([x for r in results for x in r[0]], _add_counts(r[1] for r in results),
             sum(r[2] for r in results), sum(r[3] for r in results)))


def _add_counts(dicts) -> dict:
    total: dict = {}
    for d in dicts:
        for k, v in d.items():
            total[k] = total.get(k, 0) + v
    return total


def load_python(port: int, path: str, headers: dict, connections: int, duration: float, procs: int) -> dict:
    ctx = mp.get_context("spawn")  # fresh interpreters: no copy of the driver's threads or sockets
    q = ctx.Queue()
    procs = max(1, min(procs, connections))
    per = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    start_at = time.time() + 1.0  # let every process import and connect first
    ps = [ctx.Process(target=_client_worker, args=(port, path, headers, c, start_at, duration, q), daemon=True)
          for c in per]
    for p in ps:
        p.start()
    parts = [q.get(timeout=duration + 60) for _ in ps]
    for p in ps:
        p.join(10)
    lat = [x for part in parts for x in part[0]]
    n = len(lat)
    return {"rps": n / duration, "elapsed": duration, "client_cpu": float("nan"),
            "p50_ms": quantile(lat, 0.5) * 1000, "p99_ms": quantile(lat, 0.99) * 1000,
            "requests": n, "statuses": _add_counts(p[1] for p in parts),
            "bytes_per_resp": sum(p[2] for p in parts) / max(n, 1), "errors": sum(p[3] for p in parts)}


# =========================================================================== wrk

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}  # wrk's time units, in ms


def _wrk_time(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def _wrk_size(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)([KMGT]?B)", text)
    return float(m.group(1)) * {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}[m.group(2)]


def _run_wrk(argv: list[str]) -> tuple[int, str, str, float]:
    """Run wrk; (exit code, stdout, stderr, its CPU seconds: wait4's rusage is wrk's alone)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            _, status, usage = os.wait4(p.pid, 0)
        except BaseException:
            p.kill()
            p.wait()
            raise
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read(), err.read(), usage.ru_utime + usage.ru_stime


def _parse_wrk(text: str) -> dict:
    lat = {m.group(1): _wrk_time(m.group(2)) for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)", text, re.M)}
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m), (\S+) read", text)
    requests = int(total.group(1))
    elapsed = float(total.group(2)) * _UNITS[total.group(3)] / 1000
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", text)  # wrk counts no other statuses
    return {"rps": requests / elapsed, "p50_ms": lat.get("50", float("nan")), "p99_ms": lat.get("99", float("nan")),
            "requests": requests, "statuses": {"non-2xx/3xx": int(non_ok.group(1))} if non_ok else {},
            "bytes_per_resp": _wrk_size(total.group(4)) / max(requests, 1), "elapsed": elapsed,
            "errors": sum(int(g) for g in errors.groups()) if errors else 0}


def load_wrk(port: int, path: str, headers: dict, connections: int, duration: float, threads: int) -> dict:
    argv = ["wrk", f"-t{max(1, min(threads, connections))}", f"-c{connections}", f"-d{duration:g}s", "--latency",
            "--timeout", "10s"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    argv.append(f"http://{HOST}:{port}{path}")
    code, text, errtext, cpu = _run_wrk(argv)
    if code != 0 or "Requests/sec" not in text:
        raise BenchError(f"wrk failed ({code}): {' '.join(argv)}\n{text}\n{errtext}")
    return {**_parse_wrk(text), "client_cpu": cpu}


def probe(port: int, path: str, headers: dict) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


# =========================================================================== scenarios in rounds


def interleaved_rounds(scenarios: list[tuple[str, str, dict]], rounds: int, run, pids: dict[str, int]) -> dict:
    """{label: [one result per round]} of run(path, headers); each result also has the CPU of `pids`.

    Rounds in a rotating order, so drift on a noisy machine does not land on one scenario only.
    """
    results: dict[str, list[dict]] = {label: [] for label, _, _ in scenarios}
    for rnd in range(rounds):
        k = rnd % len(scenarios)
        for label, path, headers in scenarios[k:] + scenarios[:k]:
            cpu0 = cpu_of(pids)
            res = run(path, headers)
            res["cpu"] = cpu_since(pids, cpu0)
            results[label].append(res)
    return results


def summarise_rounds(label: str, rs: list[dict], expected_status: int, pids) -> dict:
    """One row over a scenario's rounds: rate over all of them, p50 = median, p99 = worst round."""
    requests = sum(r["requests"] for r in rs)
    elapsed = sum(r["elapsed"] for r in rs)
    statuses = _add_counts(r["statuses"] for r in rs)
    rates = [r["requests"] / r["elapsed"] for r in rs]
    # wrk counts only non-2xx/3xx; the Python client sees each status (a 200 where a 304 was due is wrong).
    unexpected = sum(v for k, v in statuses.items() if k != expected_status)
    row = {"label": label, "rps": requests / elapsed, "requests": requests, "unexpected": unexpected,
           "p50_ms": statistics.median(r["p50_ms"] for r in rs), "p99_ms": max(r["p99_ms"] for r in rs),
           "bytes_per_resp": sum(r["bytes_per_resp"] * r["requests"] for r in rs) / max(requests, 1),
           "errors": sum(r["errors"] for r in rs),
           "spread": (max(rates) - min(rates)) / statistics.mean(rates) if len(rates) > 1 else 0.0,
           "client_cpu_us": 1e6 * sum(r["client_cpu"] for r in rs) / max(requests, 1)}
    for name in pids:
        used = sum(r["cpu"][name] for r in rs)
        row[f"{name}_cpu_us"] = 1e6 * used / max(requests, 1)
        row[f"{name}_cpu_pct"] = 100 * used / elapsed
    return row


# =========================================================================== the POST ceiling loop


def post_loop(port: int, body_file: str, seconds: float, extra_headers: dict | None = None) -> None:
    """A plain requests.Session keep-alive POST loop; prints one JSON line of results.

    `extra_headers` are sent as they are with every request (fixed bytes: nothing is computed per request).
    """
    import requests

    body = Path(body_file).read_bytes()
    url = f"http://{HOST}:{port}/ceiling"
    s = requests.Session()
    base = {"Content-Type": "application/json", "webhook-timestamp": str(int(time.time())), **(extra_headers or {})}
    for i in range(50):  # warm-up: connection, imports
        s.post(url, data=body, headers={**base, "webhook-id": f"warm_{i}"}, timeout=10).raise_for_status()
    n, errors = 0, 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        r = s.post(url, data=body, headers={**base, "webhook-id": f"ceil_{n}"}, timeout=10)
        errors += r.status_code != 200
        n += 1
    elapsed = time.perf_counter() - t0
    print(json.dumps({"requests": n, "elapsed": elapsed, "rps": n / elapsed, "errors": errors,
                      "client_cpu": time.process_time() - cpu0}), flush=True)


def run_post_loop(port: int, body_file: Path, seconds: float, headers_file: Path | None = None) -> dict:
    """post_loop in a process of its own (its CPU is its own, as a partner's sender's would be)."""
    argv = [sys.executable, "-m", "benchmarks.harness.load", "post-loop", str(port), str(body_file), repr(seconds),
            *([str(headers_file)] if headers_file else [])]
    p = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=seconds + 60, cwd=ROOT,
                       start_new_session=True)
    if p.returncode != 0:
        raise BenchError(f"the ceiling loop failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


if __name__ == "__main__" and sys.argv[1:2] == ["post-loop"]:
    post_loop(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]),
              json.loads(Path(sys.argv[5]).read_text()) if len(sys.argv) > 5 else None)
