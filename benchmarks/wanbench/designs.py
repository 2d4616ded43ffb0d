"""The three designs the WAN benchmark compares, each for one scenario: raw client, naive, the service.

- `Raw`: benchmarks/wanbench/raw.py in a process of its own (no API: its clock starts at the fan-out).
- `Naive`: naive_app + naive_tasks (one Celery task per delivery; `-P gevent -c 500` when gevent
  imports, else `-P threads -c 200`), on database 1 of the run's Redis.
- `Service`: the service exactly as `syndication up` starts it: `syndication api` and one Celery
  worker per syndication.cli.topology.worker_specs(env), fresh per scenario, with the scenario's
  partners file; TLS trust through REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE / SSL_CERT_FILE in its
  environment, and in the partners file too where it has a CA field (workload.ca_entry).

Naive and Service share `publish(body)` (POST /v1/events; the time of the 202), `pids()` (label
-> pid for CPU; role = label without trailing digits) and `lost(articles)` (what the design itself
counts as not delivered, for the ledger).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from benchmarks.harness import API_KEY, HOST, OPS_KEY, ROOT, BenchError, processes
from benchmarks.harness.cpu import children
from benchmarks.pushbench.workload import SECRET_ENV, push_body_like_the_service, write_feeds_file
from benchmarks.wanbench.workload import Scenario, ca_entry, warmup_event, write_partners_file

KEY_PREFIX = "benchwan:"


def role(label: str) -> str:
    return label.split(".", 1)[0].rstrip("0123456789")


def gevent_available() -> bool:
    try:
        import gevent  # noqa: F401
    except ImportError:
        return False
    return True


class Raw:
    name = "raw"

    def __init__(self, run, sc: Scenario):
        self.run, self.sc = run, sc
        self.threads = min(run.args.raw_threads, len(sc.partners))
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", **{SECRET_ENV: run.secret}, **run.trust)

    def describe(self) -> str:
        return f"requests thread pool ({self.threads} threads), a Session per partner, one POST each, no retries"

    def go(self, events: list[tuple[str, bytes]], mode: str, rate: float = 0.0) -> dict:
        """Run the raw client on these events (article id, event body); its JSON result."""
        files = []
        for aid, ev in events:
            f = self.run.logdir / f"raw-{aid}.json"
            f.write_bytes(push_body_like_the_service(ev))
            files.append(str(f))
        start_at = time.time() + 1.0
        cfg = {"partners": [[p, self.run.wp.url(p)] for p, _ in self.sc.partners], "mode": mode,
               "events": [{"article": aid, "body": f, "at": i / rate if rate else 0}
                          for i, ((aid, _), f) in enumerate(zip(events, files))],
               "threads": self.threads, "timeouts": [3.0, self.sc.read_timeout], "gap": 1.0, "start_at": start_at}
        path = self.run.logdir / f"raw-{self.sc.key}.json"
        path.write_text(json.dumps(cfg))
        limit = 60 + len(events) * (self.sc.read_timeout + 30)
        p = subprocess.run([sys.executable, "-m", "benchmarks.wanbench.raw", str(path)], cwd=ROOT, env=self.env,
                           capture_output=True, text=True, timeout=limit)
        if p.returncode != 0:
            raise BenchError(f"the raw client failed ({p.returncode}):\n{p.stderr[-2000:]}")
        return json.loads(p.stdout.strip().splitlines()[-1])


class _Published:
    """A design driven through POST /v1/events."""

    name = "?"
    port: int
    procs: dict[str, processes.Proc]

    def publish(self, body: bytes) -> tuple[float, float]:
        """POST one event; (time sent, time of the 202)."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        t0 = time.time()
        conn.request("POST", "/v1/events", body=body, headers={"Authorization": f"Bearer {API_KEY}",
                                                                "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        t1 = time.time()
        conn.close()
        if resp.status != 202:
            raise BenchError(f"{self.name}: POST /v1/events answered {resp.status}: {data[:300]!r}")
        return t0, t1

    def pids(self) -> dict[str, int]:
        """Its processes, and the run's redis-server (the service's store, the naive design's broker)."""
        return {**{label: p.pid for label, p in self.procs.items()}, "redis": self.run.redis_pid}

    def alive(self) -> None:
        for p in self.procs.values():
            p.alive()

    def commands(self) -> list[str]:
        return processes.commands(self.procs.values())

    def stop_all(self, timeout: float = 8.0) -> None:
        """Stop every process at once (each SIGTERM, then SIGKILL after `timeout`), then forget them:
        one by one, Celery's warm shutdowns add up to many seconds a design."""
        with ThreadPoolExecutor(len(self.procs)) as pool:
            list(pool.map(lambda p: p.stop(timeout), self.procs.values()))
        self.run.procs.stop(self.procs.values())


class Naive(_Published):
    name = "naive"

    def __init__(self, run, sc: Scenario):
        self.run, self.sc = run, sc
        self.port = processes.free_port()
        self.pool = ("gevent", 500) if gevent_available() else ("threads", 200)
        self.broker = run.redis_url.rsplit("/", 1)[0] + "/1"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNDICATION_", "NAIVE_"))}
        env.update({"NAIVE_BROKER_URL": self.broker, SECRET_ENV: run.secret, "PYTHONUNBUFFERED": "1",
                    "NAIVE_READ_TIMEOUT": str(sc.read_timeout), **run.trust,
                    "NAIVE_PARTNERS": ",".join(run.wp.url(p) for p, _ in sc.partners)})
        app = [sys.executable, "-m", "uvicorn", "benchmarks.wanbench.naive_app:app", "--host", HOST,
               "--port", str(self.port), "--no-access-log", "--log-level", "warning"]
        worker = [sys.executable, "-m", "celery", "-A", "benchmarks.wanbench.naive_tasks", "worker", "-P",
                  self.pool[0], "-c", str(self.pool[1]), "-Q", "celery", "-n", f"naivewan{sc.key}@%h",
                  "--without-gossip", "--without-mingle", "-l", "info"]
        self.procs = {"naive-api": processes.Proc(f"naive{sc.key}-api", app, env, run.logdir),
                      "naive-worker": processes.Proc(f"naive{sc.key}-worker", worker, env, run.logdir)}

    def describe(self) -> str:
        return (f"one Celery task per delivery, -P {self.pool[0]} -c {self.pool[1]}"
                + ("" if self.pool[0] == "gevent" else " (gevent not installed)")
                + ", a requests.Session per process, no retries")

    def __enter__(self) -> Naive:
        import redis

        self.redis = redis.Redis.from_url(self.broker)
        self.redis.flushdb()
        for p in self.procs.values():
            self.run.procs.start(p)
        self.procs["naive-worker"].wait_log(" ready.", 60)
        processes.wait_api(self.procs["naive-api"], self.port, 60)
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    def pids(self) -> dict[str, int]:
        pids = super().pids()
        for i, child in enumerate(children(pids["naive-worker"])):  # a prefork/threads pool has none
            pids[f"naive-worker.{i + 1}"] = child
        return pids

    def counts(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.redis.hgetall("naive:ledger").items()}


class Service(_Published):
    name = "service"

    def __init__(self, run, sc: Scenario):
        self.run, self.sc = run, sc
        self.port = processes.free_port()
        partners_file, feeds_file = run.logdir / f"partners-{sc.key}.yaml", run.logdir / "feeds.yaml"
        write_partners_file(partners_file, sc, {p: run.wp.url(p) for p, _ in sc.partners}, run.trust["SSL_CERT_FILE"])
        self.ca_in_file = bool(sc.tls and ca_entry(run.trust["SSL_CERT_FILE"]))
        write_feeds_file(feeds_file)
        extra = {"SYNDICATION_PARTNERS_FILE": str(partners_file), "SYNDICATION_FEEDS_FILE": str(feeds_file),
                 "SYNDICATION_OPS_KEYS": OPS_KEY, SECRET_ENV: run.secret, **run.trust}
        self.env = processes.service_env(run.redis_url, self.port, KEY_PREFIX, extra)
        self.specs = processes.worker_specs(self.env)
        self.procs = {"api": processes.api_proc(self.env, self.port, run.logdir, name=f"{sc.key}-api")}
        for spec in self.specs:
            self.procs[spec.name] = processes.spec_proc(spec, self.env, run.logdir, tag=f"{sc.key}-")
        self.ctx = processes.service_context(self.env)

    def describe(self) -> str:
        trust = ("; TLS: the CA in the partners file" if self.ca_in_file else
                 "; TLS: the CA through REQUESTS_CA_BUNDLE / SSL_CERT_FILE" if self.sc.tls else "")
        in_flight = getattr(getattr(self.ctx, "settings", None), "delivery_in_flight", None)  # engine of issue 23
        return "the service as `syndication up` runs it: " + ", ".join(
            f"{s.name} ({processes.pool_of(s)})" for s in self.specs) + (
            f"; pushes in flight per deliveries process: {in_flight}" if in_flight else "") + trust

    def __enter__(self) -> Service:
        self.ctx.redis.flushdb()
        for p in self.procs.values():
            self.run.procs.start(p)
        processes.wait_api(self.procs["api"], self.port, 60)
        self.warm_up()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.stop_all()

    def stop_deliveries(self, timeout: float = 30.0) -> bool:
        """SIGTERM the deliveries workers and give them `timeout` s to finish and record what they hold
        (then SIGKILL); True when every one stopped in time. The API stays up (the ledger reads it)."""
        clean = True
        for label, p in self.procs.items():
            if role(label) == "deliveries" and p.p and p.p.poll() is None:
                t0 = time.time()
                p.stop(timeout)
                clean = clean and time.time() - t0 < timeout
        return clean

    def warm_up(self) -> None:
        """An article no partner wants, through the whole path (API, events and feeds workers); every
        worker's heartbeat online. No push: the first measured event opens the connections (cold)."""
        from syndication.ops import heartbeats

        body = warmup_event(f"{self.sc.key}{int(time.time())}", datetime.now(UTC) - timedelta(hours=2))
        self.publish(body)
        aid = json.loads(body)["article"]["id"]
        want = {s.name for s in self.specs}
        deadline = time.time() + 90
        while True:
            online = {w["name"].split("@", 1)[0] for w in heartbeats.roster(self.ctx) if w["online"]}
            if want <= online and self._get(f"/v1/articles/{aid}")[0] == 200:
                return
            if time.time() > deadline:
                raise BenchError(f"service not ready after 90 s: workers online {sorted(online)}, want {sorted(want)}")
            self.alive()
            time.sleep(0.2)

    def _get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {OPS_KEY}"})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def statuses(self, article: str) -> dict[str, str]:
        """partner -> delivery status of an article, from GET /v1/deliveries?article_id= (the ops key)."""
        status, data = self._get(f"/v1/deliveries?article_id={article}&limit=1000")
        if status != 200:
            raise BenchError(f"GET /v1/deliveries?article_id={article}: {status} {data[:200]!r}")
        return {d["partner"]: d["status"] for d in json.loads(data)["deliveries"]}


def designs_for(run, sc: Scenario) -> list:
    kinds = {"raw": Raw, "naive": Naive, "service": Service}
    return [kinds[name] for name in sc.designs if name in run.args.design_list]
