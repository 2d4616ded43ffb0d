"""The load generator: a planned stream of article events, posted at a steady rate until each is answered.

It is also the ledger of what was sent: every POST attempt (when, and what came back) and
every event's 2xx answer, from which the end-state check derives what the partners and
feeds must hold (the truth), independently of what the service says.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import requests

from tests.faults.harness.cluster import Cluster
from tests.faults.harness.config import API_KEY
from tests.support.processes import wait_for


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
