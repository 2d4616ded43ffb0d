"""The fault-injection harness: the whole service as OS processes, a steady event stream, end-state checks.

    with Cluster(tmp) as c:                     # redis-server (AOF everysec), API, 3 workers, 2 partners
        stream = Stream(c, events=300, rate=25) # posts at a steady rate from 2 threads, retrying until answered
        stream.start()
        snap, looks = c.kill_when_busy("deliveries", lambda s: sum(s.slots.values()))  # frozen, read, kill -9
        ...; stream.join()                      # re-raises a sender's error; every planned event answered 2xx
        report = check(c, stream, "name", fault_end=t)   # raises AssertionError on any violation

Partners are real HTTP servers on 127.0.0.1 that record every request. What the partners
must hold is computed from what the test sent (the truth), and what they hold from the
requests they answered 2xx: the two are counted independently and compared.

Every recovery bound is derived from the timing configured here (`Timing`): a delivery
lease is connect + read timeout + 10 s, the sweeper runs once a second, an unapplied event
is re-driven after REDRIVE_AFTER, the breaker probes once per cool-down, plus SLACK for the
pipeline's own latency on a shared 2-core machine (see `Timing.SLACK`).
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
import requests
import yaml

from syndication.articles import ArticleStore
from syndication.configuration import load_settings
from syndication.delivery import schedule
from syndication.feeds import index, store
from syndication.feeds.index import RENDER_LOCK_TTL
from syndication.infra.context import Context
from tests.support.processes import Proc, api, free_port, wait_for, worker
from tests.support.receiver import Receiver

API_KEY = "fault-key"
SECRET = "whsec_ZmF1bHQtc3VpdGUtc2VjcmV0LWtleS0wMTIzNDU2"
SETTLE_BOUND = 150.0  # seconds allowed after the stream and the fault end for everything to land
PARTNERS = ("a", "b")
FEEDS = ("all", "economy")


class Timing:
    """What the suite configures, and so what every recovery bound is made of (seconds)."""

    SWEEP = 1.0  # every worker's housekeeping sweeps once a second, one sweep among them (a lock)
    REDRIVE_AFTER = 3.0  # SYNDICATION_EVENT_REDRIVE_AFTER here (default 30): short, so re-drives run in CI
    CONNECT, READ = 1.0, 3.0  # both partners' timeouts
    LEASE = CONNECT + READ + 10.0  # README: a delivery's lease is connect + read timeout + 10 s
    BREAKER_THRESHOLD, BREAKER_COOLDOWN = 5, 5.0  # partner b
    MAX_IN_FLIGHT = 2  # the default: push slots per partner
    RETRY = {"base_delay": 0.5, "max_delay": 4.0, "max_attempts": 100}
    MAX_BACKOFF = RETRY["max_delay"]
    RENDER_WINDOW = 1.0  # SYNDICATION_RENDER_WINDOW (default)
    RENDER_LOCK = float(RENDER_LOCK_TTL)  # a lost render is re-queued when its lock expires
    # The pipeline's own latency on top of the mechanism a bound names: after a fault the
    # backlog it built (events, due deliveries) drains at 2-4x the stream rate, a restarted
    # Celery worker reconnects and reserves work, push batches queue behind each other, one
    # render window passes; all on 2 cores shared with other test runs. In the runs recorded in
    # the README no scenario needed more than 3 s beyond its mechanism; 10 s leaves room for a
    # neighbour's test run stealing the cores.
    SLACK = 10.0


class RedisProc(Proc):
    def __init__(self, tmp: Path, port: int):
        data = tmp / "redis"
        data.mkdir(exist_ok=True)
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxmemory-policy",
                "noeviction"]
        super().__init__("redis", argv, dict(os.environ), tmp, ready="Ready to accept connections")
        self.port = port

    def cli(self, *args: str) -> str:
        out = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, timeout=10)
        return out.stdout.decode().strip()

    def shutdown_nosave(self) -> None:
        """A clean stop: the AOF is flushed and fsynced, nothing accepted may be lost."""
        self.cli("SHUTDOWN", "NOSAVE")
        self.p.wait(10)

    def crash(self) -> None:
        """kill -9: what reached the AOF file but not the disk (everysec) is at the OS's mercy."""
        os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait(10)


@dataclass
class InFlight:
    """Work some process had taken and not finished, read from Redis while that process is frozen."""

    at: float
    deliveries: dict[str, dict[str, float]]  # partner -> delivery id under lease (claimed, not recorded) -> lease end
    slots: dict[str, int]  # partner -> push slots held: pushes running, each with at most one request on the wire
    pending: dict[str, float]  # accepted events not applied yet -> due at (in the future: claimed by a batch)
    tasks: list[tuple[str, list, float]]  # Celery messages a worker had taken: (task, args, taken at)
    lock_ttl: dict[str, float]  # feed -> seconds its render lock has left (feeds with a lock)

    def taken(self, task: str) -> list[tuple[list, float]]:
        return [(args, at) for name, args, at in self.tasks if name == f"syndication.{task}"]

    @property
    def lost_applies(self) -> set[str]:
        """Events an apply batch had claimed and not applied, while a worker held a batch task."""
        if not self.taken("apply_events"):
            return set()
        return {e for e, due in self.pending.items() if due > self.at}

    @property
    def lost_renders(self) -> dict[str, float]:
        """Feeds whose render a worker had taken and still held the lock for: feed -> lock expiry."""
        out = {}
        for args, taken_at in self.taken("render_feed"):
            name = args[0]
            # The lock is this task's only if it was taken before the task was (the lock admits
            # the task into the queue): a render that already finished may hold a fresh lock
            # for its follow-up render. Locks are taken with a TTL of RENDER_LOCK_TTL.
            if name in self.lock_ttl and self.at - (RENDER_LOCK_TTL - self.lock_ttl[name]) <= taken_at + 0.001:
                out[name] = self.at + self.lock_ttl[name]
        return out

    def describe(self, *what: str) -> str:
        parts = {
            "deliveries": lambda: (f"{sum(map(len, self.deliveries.values()))} deliveries leased, "
                                   f"{sum(self.slots.values())} pushes running"),
            "applies": lambda: f"{len(self.lost_applies)} applies taken ({len(self.pending)} events pending)",
            "renders": lambda: f"{len(self.lost_renders)} renders running ({', '.join(sorted(self.lost_renders))})",
        }
        return "; ".join(parts[w]() for w in what)


class Cluster:
    def __init__(self, tmp: Path, *, partner_b: dict | None = None):
        assert free_port() != 6379
        self.tmp = tmp
        self.redis = RedisProc(tmp, free_port())
        self.partners = {"a": Receiver.start(), "b": Receiver.start()}
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        partners_file = tmp / "partners.yaml"
        t = Timing
        timeouts = {"connect": t.CONNECT, "read": t.READ}
        b = {"id": "b", "url": self.partners["b"].url, "format": "json", "allow_private_network": True,
             "auth": {"type": "standard-webhooks", "secret_env": "B_SECRET"},
             "filters": {"categories": ["Economy"]}, "retry": t.RETRY, "timeouts": timeouts,
             "breaker_threshold": t.BREAKER_THRESHOLD, "breaker_cooldown": t.BREAKER_COOLDOWN,
             **(partner_b or {})}
        partners_file.write_text(yaml.safe_dump({"partners": [
            {"id": "a", "url": self.partners["a"].url, "format": "json", "allow_private_network": True,
             "retry": t.RETRY, "timeouts": timeouts},
            b,
        ]}))
        # What each partner wants, restated here (not asked of the service): categories, [] = all.
        self.wanted = {"a": [], "b": list(b["filters"].get("categories") or [])}
        feeds_file = tmp / "feeds.yaml"
        feeds_file.write_text(yaml.safe_dump({"feeds": [
            {"name": "all", "title": "All"},
            {"name": "economy", "title": "Economy", "filters": {"categories": ["Economy"]}},
        ]}))
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
            "SYNDICATION_REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/0",
            "SYNDICATION_API_KEYS": API_KEY,
            "SYNDICATION_PARTNERS_FILE": str(partners_file),
            "SYNDICATION_FEEDS_FILE": str(feeds_file),
            "SYNDICATION_BASE_URL": self.api_url,
            "SYNDICATION_EVENT_REDRIVE_AFTER": str(t.REDRIVE_AFTER),
            "SYNDICATION_RENDER_WINDOW": str(t.RENDER_WINDOW),
            "B_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
        }
        self.procs = {
            "api": api(self.env, tmp, port),
            "events": worker("events", self.env, tmp, concurrency=4),
            "feeds": worker("feeds", self.env, tmp, concurrency=2),
            "deliveries": worker("deliveries", self.env, tmp, concurrency=8),
        }
        self.extra: list[Proc] = []
        self.ctx: Context | None = None

    def __enter__(self) -> "Cluster":
        self.redis.start()
        self.ctx = Context.build(load_settings(self.env))
        # The bounds below assume the lease the README states; the service must use that lease.
        for p in self.ctx.settings.push_targets:
            assert schedule.lease_seconds(p) == Timing.LEASE, (p.id, schedule.lease_seconds(p))
        parallel(p.start for p in self.procs.values())  # cold starts overlap: ~3 s instead of ~7
        return self

    def __exit__(self, *exc) -> None:
        # Nothing is checked after a test ends: kill everything at once instead of waiting for
        # each worker's warm shutdown.
        for p in [*self.procs.values(), *self.extra]:
            p.kill()
        self.redis.kill()
        for r in self.partners.values():
            r.stop()

    def restart(self, name: str) -> None:
        self.procs[name].start()

    def extra_worker(self, queue: str) -> Proc:
        """One more worker on `queue` (another sweeper competing for the sweep lock)."""
        extra = worker(queue, self.env, self.tmp, concurrency=2)
        extra.name = f"{queue}2"
        extra.log = self.tmp / f"{queue}2.log"
        extra.argv = [a.replace(f"{queue}-", f"{queue}2-") if a.startswith(f"{queue}-") else a for a in extra.argv]
        self.extra.append(extra)
        return extra.start()

    # -- faults --------------------------------------------------------------------------

    def in_flight(self) -> InFlight:
        """Everything taken and unfinished, in one round trip."""
        r, k = self.ctx.redis, self.ctx.keys
        pipe = r.pipeline(transaction=False)
        for pid in PARTNERS:
            pipe.zrange(k.partner_inflight(pid), 0, -1, withscores=True)
            pipe.zrange(k.partner_slots(pid), 0, -1, withscores=True)
        pipe.zrange(k.events_pending, 0, -1, withscores=True)
        pipe.hgetall(k.celery_unacked)
        pipe.zrange(f"{k.celery_unacked}_index", 0, -1, withscores=True)
        for name in FEEDS:
            pipe.pttl(k.feed_render_lock(name))
        res = pipe.execute()
        now = time.time()
        deliveries, slots = {}, {}
        for i, pid in enumerate(PARTNERS):
            deliveries[pid] = {x.decode(): until for x, until in res[2 * i]}
            slots[pid] = sum(1 for _, until in res[2 * i + 1] if until > now)  # expired slots hold nothing
        j = 2 * len(PARTNERS)
        pending = {x.decode(): due for x, due in res[j]}
        taken_at = {tag.decode(): at for tag, at in res[j + 2]}
        tasks = []
        for tag, raw in res[j + 1].items():
            payload = json.loads(raw)[0]
            body = json.loads(base64.b64decode(payload["body"]))
            tasks.append((payload["headers"]["task"], body[0], taken_at.get(tag.decode(), 0.0)))
        ttl = {name: pttl / 1000 for name, pttl in zip(FEEDS, res[j + 3:]) if pttl > 0}
        return InFlight(now, deliveries, slots, pending, tasks, ttl)

    def kill_when_busy(self, name: str, busy, timeout: float = 30.0) -> tuple[InFlight, int]:
        """kill -9 process `name` at a moment it holds work, and return that work.

        The process group is frozen (SIGSTOP) before Redis is read, so what the snapshot says
        it holds is exactly what dies with it; if it holds nothing it is thawed and we try
        again a few milliseconds later. `busy(snapshot)` says whether the snapshot will do.
        """
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        tries = 0
        while True:
            tries += 1
            os.killpg(proc.p.pid, signal.SIGSTOP)
            snap = self.in_flight()
            if busy(snap):
                os.killpg(proc.p.pid, signal.SIGKILL)  # SIGKILL ends a stopped process too
                proc.p.wait(10)
                return snap, tries
            os.killpg(proc.p.pid, signal.SIGCONT)
            assert time.monotonic() < deadline, f"{name} never held work in flight in {timeout} s ({tries} looks)"
            time.sleep(random.uniform(0.005, 0.03))

    def freeze_redis_when_busy(self, busy, timeout: float = 30.0) -> tuple[InFlight, int]:
        """Pause every write (CLIENT PAUSE WRITE) at a moment work is in flight, and return it.

        Once writes are paused nothing changes until the crash that follows, so the snapshot
        is exactly the state the crash interrupts; reads (this snapshot) still run.
        """
        deadline = time.monotonic() + timeout
        tries = 0
        while True:
            tries += 1
            self.ctx.redis.execute_command("CLIENT", "PAUSE", 30000, "WRITE")
            snap = self.in_flight()
            if busy(snap):
                return snap, tries
            self.ctx.redis.execute_command("CLIENT", "UNPAUSE")
            assert time.monotonic() < deadline, f"nothing was in flight in {timeout} s ({tries} looks)"
            time.sleep(random.uniform(0.005, 0.03))

    def watch_leases(self, snap: InFlight, timeout: float = 120) -> dict[str, float]:
        """When each delivery leased in `snap` leaves its partner's in-flight set (polled every 50 ms).

        Only the worker that claimed it (here: dead) or the sweeper, once the lease has expired,
        takes an id out of in-flight; filled in by a thread as it happens.
        """
        left: dict[str, float] = {}
        watched = [(pid, did) for pid, ids in snap.deliveries.items() for did in ids]

        def loop():
            deadline = time.time() + timeout
            while len(left) < len(watched) and time.time() < deadline:
                pipe = self.ctx.redis.pipeline(transaction=False)
                for pid, did in watched:
                    pipe.zscore(self.ctx.keys.partner_inflight(pid), did)
                now = time.time()
                for (pid, did), score in zip(watched, pipe.execute()):
                    if score is None and did not in left:
                        left[did] = now
                time.sleep(0.05)

        threading.Thread(target=loop, daemon=True).start()
        return left

    def feed_rendered_at(self, name: str) -> float:
        return float(self.ctx.redis.hget(self.ctx.keys.feed_stats(name), "last_render_at") or 0)

    # -- end state -------------------------------------------------------------------------

    def settle(self, deadline: float) -> None:
        k = self.ctx.keys

        def quiet():
            r = self.ctx.redis
            busy = {"events_pending": r.zcard(k.events_pending), "feeds_dirty": r.zcard(k.feeds_dirty),
                    # A render queued or running holds its lock until its bytes are stored.
                    "renders": sum(r.exists(k.feed_render_lock(f.name)) for f in self.ctx.settings.feeds)}
            for pid in PARTNERS:
                busy[f"{pid}_due"] = r.zcard(k.partner_due(pid))
                busy[f"{pid}_inflight"] = r.zcard(k.partner_inflight(pid))
            return not any(busy.values()) or {key: v for key, v in busy.items() if v}

        last: list = [None]

        def settled() -> bool:
            last[0] = quiet()
            return last[0] is True

        try:
            wait_for(settled, timeout=max(1.0, deadline - time.time()), interval=0.5, what="the service to settle")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; still busy at the end: {last[0]}") from None

    def wants(self, partner: str, event: dict) -> bool:
        cats = self.wanted[partner]
        return not cats or bool(set(cats) & set(event["article"].get("categories") or []))


def parallel(calls) -> None:
    """Run the calls at once, each in its own thread; re-raise the first failure in this thread."""
    errors: list[BaseException] = []

    def run(call):
        try:
            call()
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# -- the event stream ----------------------------------------------------------------------


def make_stream(n_events: int, seed: int = 7, versions: bool = True) -> list[list[dict]]:
    """Events for ~n/2 articles: v1..v3 updates, some withdrawals; split by article over 2 senders.

    `versions=False`: every article published once, nothing else (each event is then pushed).
    """
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    base = datetime(2026, 11, 25, tzinfo=timezone.utc)
    n_articles = max(2, n_events // 2) if versions else n_events
    plans = []
    for i in range(n_articles):
        aid = f"f{run}-{i:05d}"
        if versions:
            plans.append((aid, [1, 2, 3][: rng.choice([1, 2, 3, 3])], rng.random() < 0.15))
        else:
            plans.append((aid, [1], False))
    events = []
    for n, (aid, vs, withdraw) in enumerate(plans):
        published = base + timedelta(seconds=n)
        for v in vs:
            cats = [rng.choice(["Economy", "Sport", "Politics"])]
            events.append({
                "event_id": f"{aid}-v{v}", "type": "article.published" if v == 1 else "article.updated",
                "occurred_at": (published + timedelta(seconds=v)).isoformat(),
                "article": {"id": aid, "version": v, "url": f"https://news.example/{aid}", "language": "en",
                            "headline": f"{aid} v{v}", "summary": f"summary {aid} v{v}",
                            "body_html": f"<p>body {aid} v{v}</p>", "categories": cats,
                            "published_at": published.isoformat(),
                            "updated_at": (published + timedelta(seconds=v)).isoformat()}})
        if withdraw:
            events.append({"event_id": f"{aid}-w", "type": "article.withdrawn",
                           "occurred_at": (published + timedelta(seconds=9)).isoformat(),
                           "article": {"id": aid, "version": len(vs) + 1, "reason": "fault test"}})
    events = events[:n_events]
    # Interleave articles while keeping each article's events in order on one lane.
    lanes: list[list[dict]] = [[], []]
    for ev in events:
        lanes[int(ev["article"]["id"].rsplit("-", 1)[1]) % 2].append(ev)
    return lanes


@dataclass
class Attempt:
    lane: int
    event_id: str
    started: float
    ended: float
    outcome: int | str  # the HTTP status, or the exception's name when no answer came


@dataclass
class Answer:
    event: dict
    status: int  # 202 (stored now) or 200 (already stored)
    at: float  # when the 2xx arrived
    attempts: int


class Stream:
    """Posts events at a steady rate from two threads, each event until it is answered 2xx.

    A 502/503 or a request that got no answer (connection refused or cut, timeout) is retried
    with the same event_id, honouring Retry-After, for at most RETRY_BUDGET seconds; any other
    answer, or an event still unanswered after that, stops the stream and fails the test
    (`join` re-raises it in the test's thread).
    """

    RETRY_BUDGET = 60.0

    def __init__(self, cluster: Cluster, events: int, rate: float, *, versions: bool = True):
        self.cluster, self.rate = cluster, rate
        self.lanes = make_stream(events, versions=versions)
        self.total = sum(len(lane) for lane in self.lanes)
        self.answers: dict[str, Answer] = {}
        self.attempts: list[Attempt] = []
        self.errors: list[BaseException] = []
        self.posting: list[float | None] = [None] * len(self.lanes)  # per lane: start of the POST under way
        self.sessions = [requests.Session() for _ in self.lanes]  # keep-alive, per lane
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._lane, args=(i, lane), daemon=True)
                        for i, lane in enumerate(self.lanes)]

    # -- driving it ----------------------------------------------------------------------

    def start(self) -> "Stream":
        self.started = time.time()
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self.errors:
            raise self.errors[0]
        assert not any(t.is_alive() for t in self.threads), "the event stream did not finish"
        missing = [ev["event_id"] for lane in self.lanes for ev in lane if ev["event_id"] not in self.answers]
        assert not missing and self.sent == self.total, (
            f"{self.total - self.sent} of {self.total} planned events never answered 2xx: {missing[:5]}")

    def wait_answered(self, n: int, timeout: float = 120) -> None:
        done = lambda: not any(t.is_alive() for t in self.threads)  # noqa: E731
        wait_for(lambda: self.errors or self.sent >= n or done(), timeout=timeout, interval=0.02,
                 what=f"{n} events answered")
        if self.errors:
            raise self.errors[0]
        assert self.sent >= n, f"the stream ended after {self.sent} events, before {n} were answered"

    def post_extra(self, ev: dict) -> Answer:
        """A test's own event, posted now: planned, answered and checked like the stream's."""
        with self.lock:
            self.total += 1
            self.lanes.append([ev])
        return self.post(ev)

    def post(self, ev: dict, lane: int = -1) -> Answer:
        """Post one event until answered 2xx."""
        session = self.sessions[lane] if lane >= 0 else requests.Session()
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        body = json.dumps(ev).encode()
        give_up = time.monotonic() + self.RETRY_BUDGET
        tries = 0
        while True:
            tries += 1
            started = time.time()
            if lane >= 0:
                self.posting[lane] = started
            r = None
            try:
                r = session.post(f"{self.cluster.api_url}/v1/events", data=body, headers=headers, timeout=5)
                outcome: int | str = r.status_code
            except requests.RequestException as exc:
                outcome = _no_answer(exc)
                session.close()  # a fresh connection for the retry
                session = requests.Session()
                if lane >= 0:
                    self.sessions[lane] = session
            finally:
                if lane >= 0:
                    self.posting[lane] = None
            attempt = Attempt(lane, ev["event_id"], started, time.time(), outcome)
            with self.lock:
                self.attempts.append(attempt)
            if r is not None and r.status_code in (200, 202):
                answer = Answer(ev, r.status_code, time.time(), tries)
                with self.lock:
                    self.answers[ev["event_id"]] = answer
                return answer
            if r is not None and r.status_code not in (502, 503):
                raise AssertionError(f"POST {ev['event_id']} answered {r.status_code}: {r.text[:300]}")
            if time.monotonic() > give_up:
                raise AssertionError(f"POST {ev['event_id']}: no 2xx in {self.RETRY_BUDGET:.0f} s "
                                     f"({tries} tries, last: {outcome})")
            if self.stop.is_set():
                raise AssertionError("stream stopped")
            retry_after = r.headers.get("Retry-After") if r is not None else None
            time.sleep(min(float(retry_after), 1.0) if retry_after else 0.2)

    def _lane(self, i: int, lane: list[dict]) -> None:
        try:
            gap = len(self.lanes) / self.rate
            next_at = time.monotonic()
            for ev in lane:
                if self.stop.is_set():
                    return
                self.post(ev, i)
                # A steady rate without catching up in a burst after an outage.
                next_at = max(next_at + gap, time.monotonic())
                time.sleep(max(0.0, next_at - time.monotonic()))
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread by join()
            self.errors.append(exc)
            self.stop.set()

    # -- what happened -------------------------------------------------------------------

    @property
    def sent(self) -> int:
        return len(self.answers)

    def answered_between(self, t0: float, t1: float = math.inf) -> int:
        with self.lock:
            return sum(1 for a in self.answers.values() if t0 <= a.at < t1)

    def cut_at(self, t: float) -> list[Attempt]:
        """POSTs under way at time `t` that got no answer (the server died with them)."""
        with self.lock:
            return [a for a in self.attempts if a.started <= t < a.ended and a.outcome in ("cut", "timeout")]

    def latest(self, exclude=frozenset()) -> dict[str, dict]:
        """article id -> its newest event answered 2xx (minus `exclude`)."""
        out: dict[str, dict] = {}
        for eid, a in self.answers.items():
            if eid in exclude:
                continue
            aid = a.event["article"]["id"]
            if aid not in out or a.event["article"]["version"] > out[aid]["article"]["version"]:
                out[aid] = a.event
        return out

    def counts(self) -> str:
        statuses = Counter(a.status for a in self.answers.values())
        retries = sum(a.attempts - 1 for a in self.answers.values())
        return f"{statuses[202]} x 202, {statuses[200]} x 200, {retries} client retries"


def _no_answer(exc: requests.RequestException) -> str:
    text = repr(exc)
    if "Connection refused" in text:
        return "refused"
    if isinstance(exc, requests.Timeout):
        return "timeout"
    return "cut"  # reset, remote disconnected, broken pipe: the request was on its way


# -- the end state ---------------------------------------------------------------------------


@dataclass
class Report:
    scenario: str
    planned: int
    events: int  # answered 2xx (asserted equal to planned)
    expected: int  # (article, newest version, partner) triples the partners must hold, from the truth
    effective: int  # distinct webhook-ids the partners answered 2xx for those triples
    raw_duplicates: int  # 2xx requests repeating a webhook-id
    duplicated: set[str]
    max_recovery: float
    worst: str = ""
    bound: float = 0.0
    in_flight: str = "-"
    lost: int = 0
    notes: str = ""

    def row(self) -> str:
        return (f"| {self.scenario} | {self.events}/{self.planned} | {self.expected} | {self.effective} "
                f"| {self.raw_duplicates} | {self.in_flight} | {self.max_recovery:.1f} s (bound {self.bound:.1f} s) "
                f"| {self.notes} |")


def check(cluster: Cluster, stream: Stream, scenario: str, fault_end: float, *,
          may_lose: set[str] = frozenset()) -> Report:
    """Every end-state guarantee; raises AssertionError naming the first violation.

    `may_lose`: events answered 202 that a Redis crash may have taken with it; such an event
    must be gone entirely (no record), never half there.
    """
    cluster.settle(time.time() + SETTLE_BOUND)
    ctx = cluster.ctx
    # 1. Every event answered 2xx was applied (or found stale), except what the crash may take.
    pipe = ctx.redis.pipeline(transaction=False)
    for eid in stream.answers:
        pipe.hget(ctx.keys.event(eid), "status")
    lost, bad = set(), {}
    for eid, status in zip(stream.answers, pipe.execute()):
        if status is None:
            lost.add(eid)
        elif status not in (b"applied", b"stale"):
            bad[eid] = status
    assert not bad, f"events answered 2xx but not applied: {dict(list(bad.items())[:5])}"
    assert lost <= set(may_lose), f"events answered 2xx and lost: {sorted(lost - set(may_lose))[:10]}"
    pending = ctx.redis.zcard(ctx.keys.events_pending)
    assert pending == 0, f"{pending} accepted events never applied"
    latest = stream.latest(exclude=lost)
    for aid, ev in latest.items():
        state = ArticleStore.of(ctx).get(aid)
        assert state is not None and state.version == ev["article"]["version"], (aid, state, ev["event_id"])
        assert state.withdrawn == (ev["type"] == "article.withdrawn"), aid
    # 2. What each partner holds: the 2xx requests, by (article, version), deduplicated by webhook-id.
    sent_as = {(a.event["article"]["id"], a.event["article"]["version"]): a.event
               for eid, a in stream.answers.items() if eid not in lost}
    got: dict[str, dict[tuple[str, int], set[str]]] = {}
    first_ok: dict[str, float] = {}
    dupes: set[str] = set()
    raw_dupes = 0
    mislabelled = set()
    docs: dict[tuple[str, tuple[str, int]], dict] = {}
    for pid, rec in cluster.partners.items():
        with rec.lock:
            # A request whose body was cut short (its sender killed mid-request) reached no one:
            # a real partner cannot parse it, and no answer went back.
            ok = [r for r in rec.requests if r.status_sent is not None and 200 <= r.status_sent < 300
                  and len(r.body) == int(r.headers.get("content-length") or 0)]
        seen = Counter(r.webhook_id for r in ok)
        raw_dupes += sum(n - 1 for n in seen.values())
        dupes |= {wid for wid, n in seen.items() if n > 1}
        got[pid] = {}
        for r in ok:
            doc = json.loads(r.body)
            key = (doc["article"]["id"], doc["article"]["version"])
            ev = sent_as.get(key)
            assert ev is not None, f"partner {pid} got {key}, a version no one sent"
            # A withdrawal is pushed as a withdrawal, a version as a version its partner wants.
            # (An older version's push may carry newer content: it is rendered from the article
            # as it is when sent. The newest version's content is checked below.)
            withdrawal = ev["type"] == "article.withdrawn"
            assert (doc["type"] == "article.withdrawn") == withdrawal, (
                f"partner {pid} got {key} as {doc['type']}, sent as {ev['type']}")
            if not withdrawal:
                assert cluster.wants(pid, ev), f"partner {pid} got {key}, which it does not want"
            if doc["event_id"] != ev["event_id"]:
                mislabelled.add((pid, key, doc["event_id"]))
            docs.setdefault((pid, key), doc)
            got[pid].setdefault(key, set()).add(r.webhook_id)
            first_ok.setdefault(r.webhook_id, r.at)
    # Each push carries its own version's event (id and type): never an older event's label on
    # a newer version (two interleaved applies of one article did that: test_interleaved_applies).
    assert not mislabelled, f"pushes labelled with another version's event: {sorted(mislabelled)[:5]}"
    # 3. What each partner must hold, from the truth alone.
    must: set[tuple[str, int, str]] = set()
    may: set[tuple[str, int, str]] = set()
    by_article: dict[str, list[dict]] = {}
    for eid, a in stream.answers.items():
        if eid not in lost:
            by_article.setdefault(a.event["article"]["id"], []).append(a.event)
    for aid, ev in latest.items():
        version = ev["article"]["version"]
        earlier = [e for e in by_article[aid] if e["article"]["version"] < version]
        for pid in PARTNERS:
            if ev["type"] != "article.withdrawn":
                if cluster.wants(pid, ev):
                    must.add((aid, version, pid))
            elif any((aid, e["article"]["version"]) in got[pid] for e in earlier):
                must.add((aid, version, pid))  # it holds a copy: it must hear of the withdrawal
            elif any(cluster.wants(pid, e) for e in earlier):
                may.add((aid, version, pid))  # it had a delivery of a version superseded before sending
    effective = 0
    missing, doubled, lateness, worst = [], [], 0.0, ""
    for aid, version, pid in sorted(must):
        ids = got[pid].get((aid, version), set())
        effective += len(ids)
        if not ids:
            missing.append((aid, version, pid))
        elif len(ids) > 1:
            doubled.append((aid, version, pid, ids))
        else:
            ev, doc = latest[aid], docs[(pid, (aid, version))]
            if ev["type"] != "article.withdrawn":  # the newest version's push holds that version's content
                assert doc["article"]["headline"] == ev["article"]["headline"], (pid, aid, version, doc["article"])
            late = first_ok[next(iter(ids))] - max(stream.answers[latest[aid]["event_id"]].at, fault_end)
            if late > lateness:
                lateness, worst = late, f"{aid} v{version} to {pid}"
    assert not missing, f"{len(missing)} deliveries never arrived, e.g. {missing[:3]}: {_records(ctx, missing[0][0])}"
    assert not doubled, f"delivered under several webhook-ids: {doubled[:3]}"
    for pid in PARTNERS:
        for (aid, version) in got[pid]:
            newest = latest.get(aid)
            if newest and newest["article"]["version"] == version and newest["type"] == "article.withdrawn":
                assert (aid, version, pid) in must | may, f"partner {pid} got withdrawal of {aid} it never had"
    assert effective == len(must), (effective, len(must))
    # 4. No delivery left waiting or in flight.
    for pid in PARTNERS:
        assert ctx.redis.zcard(ctx.keys.partner_due(pid)) == 0 and ctx.redis.zcard(ctx.keys.partner_inflight(pid)) == 0
    # 5. Feeds equal a render from scratch of the final state, and hold the newest live articles.
    for name in FEEDS:
        index.rebuild(ctx, ctx.settings.feed(name))  # the index from scratch, from article state alone
        fresh = store.render_all(ctx, name)
        for fmt in ("rss", "atom", "json"):
            assert store.fetch(ctx, name, fmt).body == fresh[fmt], f"{name}.{fmt} differs from a fresh render"
    live = sorted((ev["article"]["published_at"], aid) for aid, ev in latest.items()
                  if ev["type"] != "article.withdrawn")
    want = {aid for _, aid in live[-50:]}
    resp = requests.get(f"{cluster.api_url}/feeds/all.rss", timeout=5)
    assert resp.status_code == 200, resp.status_code  # an error page would parse as an empty feed
    served = {e.link.rsplit("/", 1)[1] for e in feedparser.parse(resp.content).entries}
    assert served == want, f"feed all: missing {sorted(want - served)[:5]}, extra {sorted(served - want)[:5]}"
    return Report(scenario, stream.total, stream.sent, len(must), effective, raw_dupes, dupes,
                  max(0.0, lateness), worst, lost=len(lost))


def _records(ctx, aid: str) -> list:
    from syndication.delivery import records

    state = ArticleStore.of(ctx).get(aid)
    events = [json.loads(x) for x in ctx.redis.lrange(ctx.keys.events_log, 0, -1)]
    return [("state", state and (state.version, state.withdrawn, state.event_id)),
            [e for e in events if e["article_id"] == aid]] + [
        (r["partner"], r["version"], r["status"], r.get("attempts"), r.get("last_error"),
         records.attempts(ctx, r["id"])) for r in records.for_article(ctx, aid)]


def kill(proc: Proc) -> None:
    os.killpg(proc.p.pid, signal.SIGKILL)
    proc.p.wait(10)
