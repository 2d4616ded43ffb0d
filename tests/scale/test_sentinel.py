"""Redis high availability: the service follows a Sentinel failover without a restart.

A primary, one replica and three sentinels (tests/support/sentinel.py), the API and the events,
feeds and deliveries workers configured with SYNDICATION_REDIS_SENTINELS only (their
SYNDICATION_REDIS_URL names a port nobody listens on: it gives the db, nothing else). A publisher
posts a steady stream, retrying a 503 or a refused connection with the same event_id as a
newsroom's client would; the primary is killed with SIGKILL mid-stream.

- SYNDICATION_REDIS_MIN_REPLICAS=1: every 202 waited for the replica (WAIT), so every event
  answered 202 is on the promoted primary and reaches the partner: 0 lost, asserted. With one
  replica, the promoted primary has none left, so accepts answer 503 until a replica is back:
  a supervisor restarts the dead server, the sentinels make it a replica, accepts resume.
- SYNDICATION_REDIS_MIN_REPLICAS=0: accepts resume as soon as the sentinels have promoted the
  replica (no Redis restart needed); an event acknowledged in the replication lag would be lost
  (counted and reported, not asserted: on loopback the lag is rarely caught).

Both check against celery issues 6348 and 10302 (workers that stop consuming after a failover or
reconnect): events first sent after the kill must be applied and pushed, which needs the events
and deliveries workers consuming from the new primary.

Each run prints one summary line (pytest -s) and leaves its figures in the scale suite's FIGURES
(docs/scale.json): time to resume, events acknowledged before, during and after, lost. The two
failover runs take about a minute together, so they are `scale` (make scale); the 503 test runs by default.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid

import pytest
import redis
import requests
import yaml

from tests.conftest import API_KEY
from tests.scale.conftest import FIGURES
from tests.support.events import article_event
from tests.support.processes import api, free_port, wait_for, worker
from tests.support.receiver import Receiver
from tests.support.sentinel import SentinelSet


class Publisher(threading.Thread):
    """Posts a new event every `interval` s; a 503 or a connection error is retried with the same
    event_id until it is answered 202/200. Records when each event was first sent and acknowledged."""

    def __init__(self, base: str, tag: str, interval: float = 0.05):
        super().__init__(daemon=True)
        self.base, self.tag, self.interval = base, tag, interval
        self.stopping = threading.Event()
        self.sent: dict[str, float] = {}  # article id -> first attempt
        self.acked: dict[str, float] = {}  # article id -> 202/200 answered at
        self.refusals = 0
        self.session = requests.Session()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        i = 0
        while not self.stopping.is_set():
            aid = f"{self.tag}-{i:05d}"
            body = json.dumps(article_event(aid))
            self.sent[aid] = time.time()
            while not self.stopping.is_set():
                try:
                    r = self.session.post(f"{self.base}/v1/events", data=body, headers=headers, timeout=10)
                    if r.status_code in (200, 202):
                        self.acked[aid] = time.time()
                        break
                    assert r.status_code == 503, (r.status_code, r.text)
                except requests.RequestException:
                    pass
                self.refusals += 1
                time.sleep(0.2)
            i += 1
            time.sleep(self.interval)


def _delivered(partner: Receiver) -> set[bytes]:
    with partner.lock:
        return {r.body for r in partner.requests if r.status_sent == 200}


def _pushed(partner: Receiver, ids) -> set[str]:
    bodies = _delivered(partner)
    return {aid for aid in ids if any(f'"{aid}"'.encode() in b for b in bodies)}


@pytest.mark.scale
@pytest.mark.parametrize("min_replicas", [1, 0])
def test_service_follows_a_sentinel_failover(tmp_path, min_replicas):
    ha = SentinelSet(tmp_path / "redis").start()
    wire = Receiver.start()
    procs = []
    try:
        port, nobody = free_port(), free_port()
        partners_file, feeds_file = tmp_path / "partners.yaml", tmp_path / "feeds.yaml"
        partners_file.write_text(yaml.safe_dump({"partners": [{
            "id": "wire", "url": wire.url, "format": "json", "allow_private_network": True,
            "retry": {"base_delay": 0.2, "max_delay": 1}}]}))
        feeds_file.write_text(yaml.safe_dump({"feeds": [{"name": "all", "title": "All news"}]}))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
            "SYNDICATION_REDIS_URL": f"redis://127.0.0.1:{nobody}/0",  # only the db counts with sentinels
            "SYNDICATION_REDIS_SENTINELS": ha.sentinels_env,
            "SYNDICATION_REDIS_MASTER": ha.master,
            "SYNDICATION_REDIS_MIN_REPLICAS": str(min_replicas),
            "SYNDICATION_REDIS_REPLICA_TIMEOUT": "0.5",
            "SYNDICATION_KEY_PREFIX": f"ha{uuid.uuid4().hex[:6]}:",
            "SYNDICATION_API_KEYS": API_KEY,
            "SYNDICATION_PARTNERS_FILE": str(partners_file),
            "SYNDICATION_FEEDS_FILE": str(feeds_file),
            "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}",
            "PYTHONUNBUFFERED": "1",
        }
        procs += [api(env, tmp_path, port), worker("events", env, tmp_path), worker("feeds", env, tmp_path),
                  worker("deliveries", env, tmp_path, concurrency=2)]
        for p in procs:
            p.start()
        publisher = Publisher(f"http://127.0.0.1:{port}", f"ha{min_replicas}-{uuid.uuid4().hex[:6]}")
        publisher.start()
        wait_for(lambda: len(_pushed(wire, list(publisher.acked))) >= 30, timeout=30, what="a steady stream pushed")

        killed_at = time.time()
        old = ha.kill_primary()
        ha.wait_for_failover(old)
        promoted_at = time.time()
        if min_replicas:
            ha.restart(old)  # the supervisor: the promoted primary needs a replica to WAIT for
        resumed_at = wait_for(lambda: min((t for a, t in list(publisher.acked.items()) if publisher.sent[a] > killed_at),
                                          default=None), timeout=60, what="an event sent after the kill acknowledged")
        wait_for(lambda: sum(1 for a in publisher.acked if publisher.sent[a] > resumed_at) >= 40, timeout=30,
                 what="40 events accepted after the failover")
        publisher.stopping.set()
        publisher.join(15)

        acked = dict(publisher.acked)
        after = [a for a in acked if publisher.sent[a] > killed_at]
        # Pushed to the partner, which needs the events and deliveries workers consuming after the failover.
        wait_for(lambda: set(after) <= _pushed(wire, after), timeout=60, what="events sent after the kill pushed")
        primary = ha.client()
        prefix = env["SYNDICATION_KEY_PREFIX"]
        stored = {a for a in acked if primary.exists(f"{prefix}article:{a}")}
        if min_replicas:
            wait_for(lambda: set(acked) <= _pushed(wire, acked), timeout=60, what="every acknowledged event pushed")
        lost = sorted(set(acked) - _pushed(wire, acked))
        before = [a for a in acked if acked[a] <= killed_at]
        longest_wait = max(acked[a] - publisher.sent[a] for a in acked)  # one client's wait, retries included
        during = [a for a in acked if killed_at < acked[a] < resumed_at]
        print(f"\nsentinel failover, MIN_REPLICAS={min_replicas}: sentinels promoted in "
              f"{promoted_at - killed_at:.1f}s; resumed (first event sent after the kill answered 202) in "
              f"{resumed_at - killed_at:.1f}s; longest client wait {longest_wait:.1f}s; acknowledged: {len(before)} before the kill, {len(during)} "
              f"between kill and resume, {len(acked) - len(before) - len(during)} after; 503/refused attempts "
              f"{publisher.refusals}; article records on the new primary {len(stored)}/{len(acked)}; "
              f"lost {len(lost)}")
        FIGURES[f"sentinel failover, MIN_REPLICAS={min_replicas}"] = {
            "promoted_s": round(promoted_at - killed_at, 1), "resumed_s": round(resumed_at - killed_at, 1),
            "longest_client_wait_s": round(longest_wait, 1),
            "acked_before": len(before), "acked_during": len(during),
            "acked_after": len(acked) - len(before) - len(during), "refused_attempts": publisher.refusals,
            "lost": len(lost)}
        assert resumed_at - killed_at < 30
        if min_replicas:
            assert not lost, lost[:10]
    finally:
        for p in reversed(procs):
            p.stop()
        wire.stop()
        ha.stop()


@pytest.mark.alone  # the replica must confirm within REPLICA_TIMEOUT (0.3 s): no other xdist worker's load
def test_accept_answers_503_when_no_replica_confirms(tmp_path):
    """MIN_REPLICAS=1 with the replica gone: the event is stored on the primary but not acknowledged
    (503 + Retry-After, on the fast path's key and the route's); once a replica is back the retry
    with the same event_id is answered 200 (a repeat), after waiting for the replica again."""
    ha = SentinelSet(tmp_path / "redis").start()
    procs = []
    try:
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
               "SYNDICATION_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
               "SYNDICATION_REDIS_SENTINELS": ha.sentinels_env, "SYNDICATION_REDIS_MIN_REPLICAS": "1",
               "SYNDICATION_REDIS_REPLICA_TIMEOUT": "0.3",
               "SYNDICATION_KEY_PREFIX": f"hw{uuid.uuid4().hex[:6]}:", "SYNDICATION_API_KEYS": API_KEY,
               "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}", "PYTHONUNBUFFERED": "1"}
        procs.append(api(env, tmp_path, port).start())
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        post = lambda ev: requests.post(f"http://127.0.0.1:{port}/v1/events", data=json.dumps(ev),  # noqa: E731
                                        headers=headers, timeout=10)
        assert post(article_event(f"w-{uuid.uuid4().hex[:6]}")).status_code == 202
        replica = ha.server_ports[1]
        ha.kill(replica)
        wait_for(lambda: ha.client().info("replication")["connected_slaves"] == 0, what="replica gone")
        ev = article_event(f"w-{uuid.uuid4().hex[:6]}")
        refused = post(ev)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1", refused.text
        assert refused.json()["error"] == "unavailable"
        assert redis.Redis(port=ha.primary_port()).exists(f"{env['SYNDICATION_KEY_PREFIX']}event:{ev['event_id']}")
        ha.restart(replica)
        wait_for(lambda: ha.client().info("replication").get("slave0", {}).get("state") == "online",
                 what="the primary to count the replica online again")
        # The publisher retries with the same event_id, as the 503 says: a replica that just finished
        # its resync may miss one 0.3 s WAIT, so a retry may be refused again, but never accepted anew.
        answers = []

        def repeated():
            answers.append(post(ev))
            return answers[-1].status_code == 200

        wait_for(repeated, timeout=20, what="the retry answered 200 once the replica is back")
        assert {a.status_code for a in answers} <= {200, 503}, [a.text for a in answers]
    finally:
        for p in reversed(procs):
            p.stop()
        ha.stop()
