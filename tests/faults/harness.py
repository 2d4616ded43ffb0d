"""The fault-injection harness: the whole service as OS processes, a steady event stream, end-state checks.

    with Cluster(tmp) as c:             # redis-server (AOF everysec), API, 3 workers, beat, 2 partners
        stream = Stream(c, events=1000) # posts at a steady rate from 2 threads, retrying until answered
        stream.start(); ...break something...; stream.join()
        report = c.settle_and_check(stream, fault_end=t)   # raises AssertionError on any violation

Partners are real HTTP servers on 127.0.0.1 that record every request;
effective deliveries are counted once per `webhook-id`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
import requests
import yaml

from syndication.infra.context import Context
from syndication.feeds import index
from syndication.feeds import store
from syndication.configuration import load_settings
from tests.support.processes import Proc, api, beat, free_port, wait_for, worker
from tests.support.receiver import Receiver

API_KEY = "fault-key"
SECRET = "whsec_ZmF1bHQtc3VpdGUtc2VjcmV0LWtleS0wMTIzNDU2"
SETTLE_BOUND = 150.0  # seconds allowed after the stream and the fault end for everything to land


class RedisProc(Proc):
    def __init__(self, tmp: Path, port: int):
        data = tmp / "redis"
        data.mkdir(exist_ok=True)
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxmemory-policy",
                "noeviction"]
        super().__init__("redis", argv, dict(os.environ), tmp, ready="Ready to accept connections")
        self.port = port

    def shutdown_nosave(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "SHUTDOWN", "NOSAVE"], capture_output=True, timeout=10)
        self.p.wait(10)


class Cluster:
    def __init__(self, tmp: Path, *, partner_b: dict | None = None, redrive_after: float = 30.0):
        assert free_port() != 6379
        self.tmp = tmp
        self.redis = RedisProc(tmp, free_port())
        self.partners = {"a": Receiver.start(), "b": Receiver.start()}
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        partners_file = tmp / "partners.yaml"
        fast = {"base_delay": 0.5, "max_delay": 4, "max_attempts": 100}
        partners_file.write_text(yaml.safe_dump({"partners": [
            {"id": "a", "url": self.partners["a"].url, "format": "json", "allow_private_network": True,
             "retry": fast, "timeouts": {"connect": 2, "read": 5}},
            {"id": "b", "url": self.partners["b"].url, "format": "json", "allow_private_network": True,
             "auth": {"type": "standard-webhooks", "secret_env": "B_SECRET"},
             "filters": {"categories": ["Economy"]}, "retry": fast, "timeouts": {"connect": 2, "read": 3},
             "breaker_threshold": 5, "breaker_cooldown": 5, **(partner_b or {})},
        ]}))
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
            "SYNDICATION_EVENT_REDRIVE_AFTER": str(redrive_after),
            "B_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
        }
        self.procs = {
            "api": api(self.env, tmp, port),
            "events": worker("events", self.env, tmp, concurrency=4),
            "feeds": worker("feeds", self.env, tmp, concurrency=2),
            "deliveries": worker("deliveries", self.env, tmp, concurrency=8),
            "beat": beat(self.env, tmp),
        }
        self.ctx: Context | None = None

    def __enter__(self) -> "Cluster":
        self.redis.start()
        for p in self.procs.values():
            p.start()
        self.ctx = Context.build(load_settings(self.env))
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs.values():
            p.stop()
        self.redis.stop()
        for r in self.partners.values():
            r.stop()

    def restart(self, name: str) -> None:
        self.procs[name].start()

    def second_beat(self) -> Proc:
        extra = beat(self.env, self.tmp)
        extra.name = "beat2"
        extra.log = self.tmp / "beat2.log"
        extra.argv = extra.argv[:-1] + [str(self.tmp / "beat2-schedule")]
        return extra.start()

    # -- end state -------------------------------------------------------------------------

    def settle(self, deadline: float) -> None:
        k = self.ctx.keys

        def quiet():
            r = self.ctx.redis
            busy = {"events_pending": r.zcard(k.events_pending), "feeds_dirty": r.zcard(k.feeds_dirty),
                    # A render queued or running holds its lock until its bytes are stored.
                    "renders": sum(r.exists(k.feed_render_lock(f.name)) for f in self.ctx.settings.feeds)}
            for pid in ("a", "b"):
                busy[f"{pid}_due"] = r.zcard(k.partner_due(pid))
                busy[f"{pid}_inflight"] = r.zcard(k.partner_inflight(pid))
            return not any(busy.values()) or {key: v for key, v in busy.items() if v}

        def settled():
            return quiet() is True

        wait_for(settled, timeout=max(1.0, deadline - time.time()), interval=0.5,
                 what=f"the service to settle (busy: {quiet()})")


@dataclass
class Truth:
    """What the test sent and the API accepted: the expected end state."""

    accepted: dict[str, float] = field(default_factory=dict)  # event_id -> time of its 202/200
    latest: dict[str, dict] = field(default_factory=dict)  # article_id -> newest accepted event
    unanswered_retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_stream(n_events: int, seed: int = 7) -> list[list[dict]]:
    """Events for ~n/3 articles: v1..v3 updates, some withdrawals; split by article over 2 senders."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    base = datetime(2026, 11, 25, tzinfo=timezone.utc)
    lanes: list[list[dict]] = [[], []]
    n_articles = max(2, n_events // 2)
    plans = []
    for i in range(n_articles):
        aid = f"f{run}-{i:05d}"
        plans.append((aid, [1, 2, 3][: rng.choice([1, 2, 3, 3])], rng.random() < 0.15))
    events = []
    for aid, versions, withdraw in plans:
        published = base + timedelta(seconds=len(events))
        for v in versions:
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
                           "article": {"id": aid, "version": len(versions) + 1, "reason": "fault test"}})
    events = events[:n_events]
    # Interleave articles while keeping each article's events in order on one lane.
    for ev in events:
        lanes[hash(ev["article"]["id"]) % 2].append(ev)
    return lanes


class Stream:
    """Posts events at a steady rate; an event without an answer is retried with the same id."""

    def __init__(self, cluster: Cluster, events: int, rate: float = 120.0):
        self.cluster, self.rate = cluster, rate
        self.lanes = make_stream(events)
        self.total = sum(len(lane) for lane in self.lanes)
        self.truth = Truth()
        self.sent = 0
        self.threads = [threading.Thread(target=self._run, args=(lane,), daemon=True) for lane in self.lanes]

    def start(self) -> "Stream":
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout: float = 300) -> None:
        for t in self.threads:
            t.join(timeout)
        assert not any(t.is_alive() for t in self.threads), "the event stream did not finish"

    def wait_sent(self, fraction: float) -> None:
        wait_for(lambda: self.sent >= self.total * fraction, timeout=120, interval=0.05, what="stream progress")

    def _run(self, lane: list[dict]) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        gap = 2.0 / self.rate
        for ev in lane:
            body = json.dumps(ev).encode()
            tries = 0
            while True:
                tries += 1
                try:
                    r = session.post(f"{self.cluster.api_url}/v1/events", data=body, headers=headers, timeout=5)
                    if r.status_code in (200, 202):
                        break
                    assert r.status_code in (502, 503), f"{r.status_code} {r.text}"
                except requests.RequestException:
                    session = requests.Session()
                time.sleep(0.2)
            with self.truth.lock:
                self.truth.accepted[ev["event_id"]] = time.time()
                self.truth.latest[ev["article"]["id"]] = ev
                self.truth.unanswered_retries += tries - 1
                self.sent += 1
            time.sleep(gap)


@dataclass
class Report:
    scenario: str
    events: int
    expected: int
    effective: int
    raw_duplicates: int
    max_recovery: float
    notes: str = ""

    def row(self) -> str:
        return (f"| {self.scenario} | {self.events} | {self.expected} | {self.effective} | {self.raw_duplicates} "
                f"| {self.max_recovery:.1f} s | {self.notes} |")


def check(cluster: Cluster, stream: Stream, scenario: str, fault_end: float) -> Report:
    """Every end-state guarantee; raises AssertionError naming the first violation."""
    cluster.settle(time.time() + SETTLE_BOUND)
    ctx, truth = cluster.ctx, stream.truth
    # 1. Every accepted event is applied, and each article holds its newest version.
    pending = ctx.redis.zcard(ctx.keys.events_pending)
    assert pending == 0, f"{pending} accepted events never applied"
    for aid, ev in truth.latest.items():
        state = ctx.articles.get(aid)
        assert state is not None and state.version == ev["article"]["version"], (aid, state, ev["event_id"])
        assert state.withdrawn == (ev["type"] == "article.withdrawn"), aid
    # 2. Partners: exactly one effective delivery of each article's newest version where it matches.
    received: dict[str, dict[tuple[str, int], set[str]]] = {}
    raw_dupes = 0
    lateness = 0.0
    for pid, rec in cluster.partners.items():
        ok = [r for r in rec.requests if r.status_sent is not None and 200 <= r.status_sent < 300]
        ids = [r.webhook_id for r in ok]
        raw_dupes += len(ids) - len(set(ids))
        got: dict[tuple[str, int], set[str]] = {}
        first_ok: dict[str, float] = {}
        for r in ok:
            doc = json.loads(r.body)
            got.setdefault((doc["article"]["id"], doc["article"]["version"]), set()).add(r.webhook_id)
            first_ok.setdefault(r.webhook_id, r.at)
            accepted_at = truth.accepted.get(doc["event_id"], r.at)
            lateness = max(lateness, first_ok[r.webhook_id] - max(accepted_at, fault_end))
        received[pid] = got
    expected = effective = 0
    for aid, ev in truth.latest.items():
        version = ev["article"]["version"]
        for pid in ("a", "b"):
            had_earlier = any(k[0] == aid and k[1] < version for k in received[pid])
            if ev["type"] == "article.withdrawn":
                should = had_earlier  # a withdrawal goes to every partner that received a version
                if not should:
                    continue  # it may also reach partners whose earlier versions were superseded
            else:
                should = pid == "a" or "Economy" in ev["article"].get("categories", [])
            ids = received[pid].get((aid, version), set())
            if should:
                expected += 1
                assert len(ids) == 1, (f"partner {pid}: {aid} v{version} arrived under {len(ids)} delivery ids; "
                                       f"records: {_records(ctx, aid)}")
                effective += 1
            else:
                assert not ids, f"partner {pid} got {aid} v{version} it does not want"
    # 3. No delivery left waiting or in flight.
    for pid in ("a", "b"):
        assert ctx.redis.zcard(ctx.keys.partner_due(pid)) == 0 and ctx.redis.zcard(ctx.keys.partner_inflight(pid)) == 0
    # 4. Feeds equal a render from scratch of the final state, and hold the newest live articles.
    for name in ("all", "economy"):
        index.rebuild(ctx, ctx.settings.feed(name))  # the index from scratch, from article state alone
        fresh = store.render_all(ctx, name)
        for fmt in ("rss", "atom", "json"):
            assert store.fetch(ctx, name, fmt).body == fresh[fmt], f"{name}.{fmt} differs from a fresh render"
    live = sorted((ev["article"]["published_at"], aid) for aid, ev in truth.latest.items()
                  if ev["type"] != "article.withdrawn")
    want = {aid for _, aid in live[-50:]}
    parsed = feedparser.parse(requests.get(f"{cluster.api_url}/feeds/all.rss", timeout=5).content)
    assert {e.link.rsplit("/", 1)[1] for e in parsed.entries} == want
    return Report(scenario, stream.total, expected, effective, raw_dupes, max(0.0, lateness))


def _records(ctx, aid: str) -> list:
    from syndication.delivery import records

    state = ctx.articles.get(aid)
    events = [json.loads(x) for x in ctx.redis.lrange(ctx.keys.events_log, 0, -1)]
    return [("state", state.version, state.withdrawn, state.event_id),
            [e for e in events if e["article_id"] == aid]] + [(r["partner"], r["version"], r["status"], r.get("attempts"), r.get("last_error"),
             records.attempts(ctx, r["id"])) for r in records.for_article(ctx, aid)]


def kill(proc: Proc) -> None:
    os.killpg(proc.p.pid, signal.SIGKILL)
    proc.p.wait(10)
