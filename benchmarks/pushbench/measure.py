"""The push benchmark's measurements, each on a target (targets.Service or targets.Naive).

- `ceiling`: the raw POST ceiling, a plain requests.Session keep-alive loop in 1 or 2 processes of
  its own (harness/load.post_loop) sending the service's push body and headers to the fast partner.
- `burst`: events POSTed as fast as the API answers; deliveries/s from the first POST to the last
  push received, CPU by process, Redis commands and round trips per delivery, pushes per partner,
  and (given feeds) how long after the last 202 each feed, read through GET /feeds/<name>.json,
  shows the last event's article. Bounded: after `timeout` s it reports what arrived (complete=False).
- `paced`: events at a fixed rate, on schedule (4 connections); from each 202 to the partner receiving each of its
  pushes, matched by webhook-id = delivery id through GET /v1/deliveries?partner=.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.harness import HOST, OPS_KEY, ROOT, BenchError, report
from benchmarks.harness.cpu import CpuSampler, cpu_seconds
from benchmarks.harness.partner import Partner
from benchmarks.harness.publish import Sender
from benchmarks.harness.redis_stats import RedisCommands
from benchmarks.harness.tasks import TaskCounter
from benchmarks.pushbench.workload import FEEDS, make_event


def quantiles(xs: list[float]) -> dict:
    return {"n": len(xs), "p50": report.quantile(xs, 0.5), "p90": report.quantile(xs, 0.9),
            "p99": report.quantile(xs, 0.99), "max": max(xs) if xs else float("nan")}


def cdf(xs: list[float], points: int = 200) -> list[list[float]]:
    """[[value, fraction <= value]] at `points` evenly spaced ranks: enough to draw the CDF."""
    xs = sorted(xs)
    if not xs:
        return []
    idx = sorted({min(len(xs) - 1, round(k * (len(xs) - 1) / (points - 1))) for k in range(points)})
    return [[xs[i], (i + 1) / len(xs)] for i in idx]


# =========================================================================== 1. the ceiling


def ceiling(partner: Partner, body_file: Path, headers_file: Path, seconds: float, nproc: int) -> dict:
    """`nproc` post loops at once, each in its own process and connection: POST/s summed."""
    partner.reset()
    cpu0, t0 = cpu_seconds(partner.proc.pid), time.time()
    argv = [sys.executable, "-m", "benchmarks.harness.load", "post-loop", str(partner.port), str(body_file),
            repr(seconds), str(headers_file)]
    ps = [subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True) for _ in range(nproc)]
    loops = []
    for p in ps:
        try:
            out, err = p.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            p.kill()
            raise BenchError("a ceiling loop did not finish")
        if p.returncode != 0:
            raise BenchError(f"the ceiling loop failed ({p.returncode}):\n{err[-2000:]}")
        loops.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.time() - t0
    requests = sum(x["requests"] for x in loops)
    return {"processes": nproc, "rps": sum(x["rps"] for x in loops), "requests": requests,
            "seconds": max(x["elapsed"] for x in loops), "errors": sum(x["errors"] for x in loops),
            "client_ms_per_post": 1000 * sum(x["client_cpu"] for x in loops) / requests,
            "client_cpu_pct": 100 * sum(x["client_cpu"] / x["elapsed"] for x in loops),
            "server_cpu_pct": 100 * (cpu_seconds(partner.proc.pid) - cpu0) / wall,
            "unanswered": requests + 50 * nproc - partner.stats()["total"]}  # + each loop's 50 warm-up POSTs


# =========================================================================== 2. a burst


class Freshness:
    """From the last 202: when each feed, read through the API, first shows `url` (conditional GETs)."""

    def __init__(self, port: int, url: str, t_last_202: float):
        self.port, self.needle, self.t0 = port, json.dumps(url).encode(), t_last_202
        self.seen: dict[str, float] = {}
        self.etags: dict[str, str] = {}
        self.conn = http.client.HTTPConnection(HOST, port, timeout=10)

    def poll(self) -> bool:
        for f in FEEDS:
            name = f["name"]
            if name in self.seen:
                continue
            headers = {"If-None-Match": self.etags[name]} if name in self.etags else {}
            self.conn.request("GET", f"/feeds/{name}.json", headers=headers)
            resp = self.conn.getresponse()
            body = resp.read()
            if resp.status == 200:
                self.etags[name] = resp.getheader("ETag") or ""
                if self.needle in body:
                    self.seen[name] = time.time()
        return len(self.seen) == len(FEEDS)

    def result(self) -> dict:
        return {"feeds": {f["name"]: self.seen.get(f["name"], float("nan")) - self.t0 for f in FEEDS},
                "max_s": max((self.seen.get(f["name"], float("nan")) - self.t0 for f in FEEDS), default=float("nan"))
                if len(self.seen) == len(FEEDS) else float("nan")}


def burst(target, redis, redis_url: str | None, events: int, senders: int, timeout: float, pids: dict[str, int],
          *, feeds: bool = False, proxy=None) -> dict:
    """Deliveries/s of `events` events to every healthy partner, and what it cost (see the module doc)."""
    run = f"b{uuid.uuid4().hex[:6]}"
    base = datetime.now(UTC) - timedelta(minutes=30)
    evs = [make_event(run, i, base + timedelta(milliseconds=i)) for i in range(events)]
    want = events * len(target.healthy)
    target.partner.reset()
    sampler = CpuSampler()
    tasks = TaskCounter(redis_url) if redis_url else None
    cmds0 = RedisCommands.now(redis)
    drv0 = (getattr(target, "driver_cmds", 0), getattr(target, "driver_reads", 0))
    if proxy:
        proxy.reset()
    if tasks:
        tasks.start()
    sampler.start(pids)
    sent, t_first = Sender(target.port).post_all([b for _, _, b in evs], threads=senders)
    last = max(range(events), key=lambda i: sent[i][2])  # the event answered last
    t_posted = sent[last][2]
    fresh = Freshness(target.port, evs[last][1], t_posted) if feeds else None
    deadline = t_posted + timeout
    t_applied, complete, is_fresh = None, False, fresh is None
    while True:
        now = time.time()
        if not is_fresh:
            is_fresh = fresh.poll()
        applied = True if t_applied else target.applied()  # None: the target has no such notion (naive)
        if applied and t_applied is None:
            t_applied = now
        st = target.partner.stats()
        if st["unique"] >= want and is_fresh and applied is not False:
            complete = True
            break
        if now > deadline:
            break
        target.alive()
        time.sleep(0.02)
    sampler.stop()
    proxy_counts = proxy.stats() if proxy else None
    cmds = cmds0.since(redis)
    # The driver's own requests inside the window: its polls, the task counter's PSUBSCRIBE, INFO
    # commandstats of the first snapshot, and INFO stats of the last one (its read is counted, the
    # command only after it has answered).
    sub = 1 if tasks else 0
    drv_cmds = getattr(target, "driver_cmds", 0) - drv0[0] + 1 + sub
    drv_reads = getattr(target, "driver_reads", 0) - drv0[1] + 2 + sub
    task_counts = tasks.stop() if tasks else {}
    got = st["unique"]
    t_last = st["last_new"] or time.time()
    elapsed = t_last - t_first
    secs, cpu = sampler.window(t_first, t_last)
    per_partner = {}
    for t, _, path in target.partner.log():
        pid = path.rsplit("/", 1)[-1]
        pc = per_partner.setdefault(pid, [0, t])
        pc[0] += 1
        pc[1] = max(pc[1], t)
    healthy_rate = {pid: c / (tl - t_first) for pid, (c, tl) in per_partner.items()}
    deliveries = max(got, 1)
    res = {
        "partners": target.n, "healthy": len(target.healthy), "events": events, "deliveries": want,
        "received": got, "complete": complete, "elapsed": elapsed, "rate": got / elapsed,
        "per_partner_rate": healthy_rate,
        "posted_s": t_posted - t_first, "accept_rps": events / (t_posted - t_first),
        "applied_s": (t_applied - t_first) if t_applied else float("nan"),
        "apply_rps": events / (t_applied - t_first) if t_applied else float("nan"),
        "dupes": st["total"] - st["unique"], "signed": st["signed"], "total": st["total"], "hung": st.get("hung", 0),
        "redis_cmds_per_delivery": (cmds.total - drv_cmds) / deliveries,
        "redis_round_trips_per_delivery": (cmds.reads - drv_reads) / deliveries,
        "by_command": {k: v / deliveries for k, v in sorted(cmds.by_command.items(), key=lambda kv: -kv[1]) if v > 0},
        "cpu_secs": secs, "cpu": cpu, "tasks": task_counts, "task_delivered": tasks.delivered if tasks else 0,
    }
    if proxy_counts:
        res["proxy"] = proxy_counts
        res["proxy_round_trips_per_delivery"] = proxy_counts["up_chunks"] / deliveries
    if fresh:
        res["freshness"] = fresh.result()
    return res


# =========================================================================== 3. a paced stream


def delivery_ids(port: int, partner_id: str, limit: int) -> dict[str, str]:
    """delivery id -> article id of a partner's newest `limit` deliveries (GET /v1/deliveries, the ops key)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", f"/v1/deliveries?partner={partner_id}&limit={min(limit, 1000)}",
                 headers={"Authorization": f"Bearer {OPS_KEY}"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 200:
        raise BenchError(f"GET /v1/deliveries?partner={partner_id}: {resp.status} {data[:200]!r}")
    return {d["id"]: d["article_id"] for d in json.loads(data)["deliveries"]}


def paced(target, rate: float, seconds: float, timeout: float) -> dict:
    """From each event's 202 to each healthy partner receiving its push: per partner, and in all.
    Events are sent on schedule over 4 connections (a slow 202 does not delay the next event)."""
    run = f"l{uuid.uuid4().hex[:6]}"
    n = max(1, min(1000, int(rate * seconds)))
    base = datetime.now(UTC) - timedelta(minutes=10)
    evs = [make_event(run, i, base + timedelta(milliseconds=i)) for i in range(n)]
    target.partner.reset()
    sent = Sender(target.port).post_paced([b for _, _, b in evs], rate, connections=4)
    want = n * len(target.healthy)
    deadline = time.time() + timeout
    while (got := target.partner.stats()["unique"]) < want and time.time() < deadline:
        target.alive()
        time.sleep(0.05)
    t202 = {aid: s[2] for (aid, _, _), s in zip(evs, sent)}
    received = {wid: (t, path.rsplit("/", 1)[-1]) for t, wid, path in target.partner.log()}
    by_partner: dict[str, list[float]] = {}
    for pid in target.healthy:
        for did, aid in delivery_ids(target.port, pid, n).items():
            if aid in t202 and did in received:
                by_partner.setdefault(pid, []).append(received[did][0] - t202[aid])
    every = [x for xs in by_partner.values() for x in xs]
    span = sent[-1][1] - sent[0][1]
    return {"events": n, "rate": rate, "achieved_rate": (n - 1) / span if span > 0 else float("nan"),
            "partners": target.n, "healthy": len(target.healthy), "deliveries": want, "received": got,
            "complete": got >= want, "latency": quantiles(every), "cdf": cdf(every),
            "by_partner": {pid: quantiles(xs) for pid, xs in by_partner.items()},
            "samples": {pid: xs for pid, xs in by_partner.items()},
            "post": quantiles([s[2] - s[1] for s in sent])}


def latency_of(result: dict, partners: list[str]) -> dict:
    """The quantiles of a paced result over some of its partners only."""
    return quantiles([x for pid in partners for x in result["samples"].get(pid, [])])


def driver_pids(redis_pid: int, partner: Partner, proxy=None) -> dict[str, int]:
    pids = {"redis": redis_pid, "partner": partner.proc.pid, "driver": os.getpid()}
    if proxy:
        pids["proxy"] = proxy.proc.pid
    return pids
