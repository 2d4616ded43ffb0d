"""Retention, and who replayed what: the service with SYNDICATION_DELIVERY_RETENTION=2s.

- Finished deliveries (delivered, superseded, discarded), their attempts and last request expire after the
  retention, and so do the articles' delivery sets; with the partner listings trimmed
  (retention.trim, which the sweeper runs every minute), the delivery history under the prefix
  shrinks back to its baseline: the dead letters alone, which never expire. Counters are intact.
- An HTTP replay and discard with a named ops key (`alice:<key>`) write one audit record each,
  logged by the API at INFO, naming alice and never the key.

The processes here are this module's own (API, events, feeds and deliveries workers) on the
session's redis-server under a prefix of their own, so the session service keeps its retention.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
import requests
import yaml

from syndication.configuration import load_settings
from syndication.delivery import retention
from syndication.infra.context import Context
from syndication.ops import audit
from tests.support import logscan
from tests.support.events import article_event, withdrawal
from tests.support.processes import api, free_port, start_all, stop_all, wait_for, worker
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.integration
ALICE_KEY = f"alice-ops-key-{uuid.uuid4().hex[:8]}"
BOB_KEY = f"bob-ops-key-{uuid.uuid4().hex[:8]}"
PUBLISHER_KEY = f"retention-publisher-{uuid.uuid4().hex[:8]}"
# The delivery history: what retention must bound (article state and events are kept on their own terms).
HISTORY = ("delivery:", "partner:", "article:")


class Retained:
    def __init__(self, url: str, ctx: Context, api_proc, kept: Receiver, refusing: Receiver):
        self.url, self.ctx, self.api, self.kept, self.refusing = url, ctx, api_proc, kept, refusing

    def post(self, event: dict) -> None:
        resp = requests.post(f"{self.url}/v1/events", data=json.dumps(event), timeout=10,
                             headers={"Authorization": f"Bearer {PUBLISHER_KEY}", "Content-Type": "application/json"})
        assert resp.status_code == 202, resp.text

    def deliveries(self, aid: str) -> list[dict]:
        resp = requests.get(f"{self.url}/v1/deliveries", params={"article_id": aid}, timeout=5,
                            headers={"Authorization": f"Bearer {BOB_KEY}"})
        assert resp.status_code == 200, resp.text
        return resp.json()["deliveries"]

    def status(self, aid: str, partner: str, version: int = 1) -> dict | None:
        return next((d for d in self.deliveries(aid) if d["partner"] == partner and d["version"] == version), None)

    def has(self, aid: str, partner: str, status: str, version: int = 1) -> dict | None:
        d = self.status(aid, partner, version)
        return d if d and d["status"] == status else None


@pytest.fixture(scope="module")
def retained(redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("retention")
    kept, refusing = Receiver.start(), Receiver.start()
    refusing.default = Reply(400, body=b'{"error":"we do not take these"}')
    partners_file, feeds_file = tmp / "partners.yaml", tmp / "feeds.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": [
        {"id": "kept", "url": kept.url, "format": "json", "allow_private_network": True,
         "filters": {"categories": ["Kept"]}},
        {"id": "refusing", "url": refusing.url, "format": "json", "allow_private_network": True,
         "filters": {"categories": ["Refused"]}},
    ]}))
    feeds_file.write_text(yaml.safe_dump({"feeds": [{"name": "all", "title": "All news"}]}))
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
           "SYNDICATION_REDIS_URL": redis_url, "SYNDICATION_KEY_PREFIX": f"r{uuid.uuid4().hex[:6]}:",
           "SYNDICATION_API_KEYS": PUBLISHER_KEY, "SYNDICATION_OPS_KEYS": f"alice:{ALICE_KEY},bob:{BOB_KEY}",
           "SYNDICATION_PARTNERS_FILE": str(partners_file), "SYNDICATION_FEEDS_FILE": str(feeds_file),
           "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}", "SYNDICATION_DELIVERY_RETENTION": "2s",
           "PYTHONUNBUFFERED": "1"}
    logscan.forbid_env(env)
    for key in (ALICE_KEY, BOB_KEY):
        logscan.forbid(key, "an ops key")
    procs = [api(env, tmp, port), worker("events", env, tmp), worker("feeds", env, tmp, concurrency=2),
             worker("deliveries", env, tmp)]
    try:
        start_all(procs)  # cold starts overlap
        yield Retained(f"http://127.0.0.1:{port}", Context.build(load_settings(env)), procs[0], kept, refusing)
    finally:
        stop_all(procs)
        kept.stop()
        refusing.stop()


def history(ctx: Context) -> dict[str, int]:
    """Every delivery-history key under the prefix -> its MEMORY USAGE (bytes)."""
    prefix = ctx.keys.prefix
    names = [k.decode() for k in ctx.redis.scan_iter(match=f"{prefix}*", count=1000)]
    names = [n for n in names if n[len(prefix):].startswith(HISTORY) and
             (n.endswith((":attempts", ":deliveries", ":history")) or n[len(prefix):].startswith("delivery:"))]
    pipe = ctx.redis.pipeline(transaction=False)
    for n in names:
        pipe.memory_usage(n)
    return {n: (size or 0) for n, size in zip(names, pipe.execute())}


def counters(ctx: Context) -> dict[str, dict]:
    """The delivery counters (metrics hashes about deliveries and dead letters), as stored."""
    prefix = ctx.keys.metric("")
    found = {}
    for k in ctx.redis.scan_iter(match=f"{prefix}*", count=1000):
        name = k.decode()[len(prefix):]
        if "deliver" in name or "dead_letter" in name or "attempt" in name:
            found[name] = ctx.redis.hgetall(k)
    return found


def test_finished_deliveries_expire_and_the_history_returns_to_its_baseline(retained):
    ctx, u = retained.ctx, uuid.uuid4().hex[:8]
    baseline = history(ctx)

    delivered = [f"ret-ok{i}-{u}" for i in range(8)]
    for aid in delivered:
        retained.post(article_event(aid, categories=["Kept"]))
    dead, doomed = f"ret-dead-{u}", f"ret-discard-{u}"
    for aid in (dead, doomed):
        retained.post(article_event(aid, categories=["Refused"]))
    # v1 waits while the partner is paused; v2 supersedes it before it is ever sent.
    old = f"ret-old-{u}"
    ctx.redis.set(ctx.keys.partner_paused("kept"), 1)
    retained.post(article_event(old, categories=["Kept"]))
    wait_for(lambda: retained.status(old, "kept"), what="v1's delivery")
    retained.post(article_event(old, 2, categories=["Kept"]))
    wait_for(lambda: retained.has(old, "kept", "superseded"), what="v1 superseded")
    ctx.redis.delete(ctx.keys.partner_paused("kept"))

    done = [wait_for(lambda aid=aid: retained.has(aid, "kept", "delivered"), timeout=20, what=f"{aid} delivered")
            for aid in [*delivered]]
    done.append(wait_for(lambda: retained.has(old, "kept", "delivered", version=2), timeout=20, what="v2"))
    # Finished records carry the retention from the moment they finished: read at once, on the one
    # that finished last (in ms: the 2 s pass while the waits below run on a loaded machine).
    assert 0 < ctx.redis.pttl(ctx.keys.delivery(done[-1]["id"])) <= 2000
    assert 0 < ctx.redis.pttl(ctx.keys.delivery_attempts(done[-1]["id"])) <= 2000
    assert 0 < ctx.redis.pttl(ctx.keys.delivery_request(done[-1]["id"])) <= 2000  # the last request goes with them
    kept_dead = wait_for(lambda: retained.has(dead, "refusing", "dead"), timeout=20, what="a dead letter")
    gone_dead = wait_for(lambda: retained.has(doomed, "refusing", "dead"), timeout=20, what="another")
    resp = requests.post(f"{retained.url}/v1/deliveries/{gone_dead['id']}/discard", timeout=5,
                         headers={"Authorization": f"Bearer {BOB_KEY}"})
    assert resp.status_code == 200 and resp.json()["status"] == "discarded", resp.text
    assert 0 < ctx.redis.pttl(ctx.keys.delivery_request(gone_dead["id"])) <= 2000  # discarded: it goes too

    peak = history(ctx)
    before = counters(ctx)
    assert sum(peak.values()) > sum(baseline.values()) and len(peak) > len(baseline) + 20, (baseline, peak)
    # Dead letters carry no retention.
    assert ctx.redis.ttl(ctx.keys.delivery(kept_dead["id"])) == -1
    assert ctx.redis.ttl(ctx.keys.delivery_attempts(kept_dead["id"])) == -1
    assert ctx.redis.ttl(ctx.keys.delivery_request(kept_dead["id"])) == -1
    assert ctx.redis.zscore(ctx.keys.deadletters, gone_dead["id"]) is None

    # After the retention: the listings trimmed (as the sweeper does each minute), every finished
    # record gone by its TTL; what remains is the baseline plus the one dead letter, whole.
    dead_keys = {ctx.keys.delivery(kept_dead["id"]), ctx.keys.delivery_attempts(kept_dead["id"]),
                 ctx.keys.delivery_request(kept_dead["id"])}

    def shrunk():
        retention.trim(ctx)
        now = history(ctx)
        return now if set(now) == set(baseline) | dead_keys else None

    after = wait_for(shrunk, timeout=20, interval=0.25, what="the delivery history back to its baseline")
    assert sum(after.values()) - sum(after[k] for k in dead_keys) <= sum(baseline.values())
    assert retained.status(delivered[0], "kept") is None and retained.deliveries(old) == []
    still = requests.get(f"{retained.url}/v1/deliveries/{kept_dead['id']}", timeout=5,
                         headers={"Authorization": f"Bearer {BOB_KEY}"}).json()
    assert still["status"] == "dead" and [a["status"] for a in still["attempt_log"]] == [400]
    assert ctx.redis.zscore(ctx.keys.deadletters, kept_dead["id"]) is not None
    assert counters(ctx) == before, "retention must leave the counters alone"


def test_an_http_replay_and_discard_are_audited_under_the_key_name(retained):
    ctx, u = retained.ctx, uuid.uuid4().hex[:8]
    aids = [f"audit-{i}-{u}" for i in range(2)]
    for aid in aids:
        retained.post(article_event(aid, categories=["Refused"]))
    dead = [wait_for(lambda aid=aid: retained.has(aid, "refusing", "dead"), timeout=20, what="dead") for aid in aids]
    alice = {"Authorization": f"Bearer {ALICE_KEY}"}
    log_start = retained.api.log.stat().st_size

    resp = requests.post(f"{retained.url}/v1/deliveries/{dead[0]['id']}/replay", headers=alice, timeout=5)
    assert resp.status_code == 202 and resp.json() == {"delivery_id": dead[0]["id"], "status": "pending"}
    # The replayed one dies again (the partner still refuses): it stays a dead letter, with no TTL.
    wait_for(lambda: (d := retained.has(aids[0], "refusing", "dead")) and d["attempts"] == 2, timeout=20,
             what="the replay attempted")
    assert ctx.redis.ttl(ctx.keys.delivery(dead[0]["id"])) == -1
    resp = requests.post(f"{retained.url}/v1/partners/refusing/dead-letters/discard", headers=alice, timeout=5)
    assert resp.status_code == 200, resp.text
    assert resp.json()["discarded"] >= 2 and resp.json()["partner"] == "refusing"
    assert all(retained.has(aid, "refusing", "discarded") for aid in aids)
    assert requests.post(f"{retained.url}/v1/partners/nobody/dead-letters/replay", headers=alice,
                         timeout=5).status_code == 404

    trail = audit.recent(ctx, 10)
    mine = [r for r in trail if r["target"] in (f"delivery {dead[0]['id']}", "partner refusing")]
    assert [(r["action"], r["actor"]) for r in mine] == [("discard", "alice"), ("replay", "alice")], trail
    assert mine[0]["count"] >= 2 and mine[1]["count"] == 1
    assert ALICE_KEY not in json.dumps(trail)

    def logged():
        lines = retained.api.log.read_bytes()[log_start:].decode(errors="replace").splitlines()
        return [json.loads(line) for line in lines if '"syndication.audit"' in line]

    lines = wait_for(lambda: len(logged()) >= 2 and logged(), what="the audit lines in the API log")
    assert {(line["action"], line["actor"]) for line in lines} == {("replay", "alice"), ("discard", "alice")}
    assert all(line["level"] == "info" for line in lines)
    assert ALICE_KEY not in retained.api.log.read_text(errors="replace")


def test_a_withdrawal_reaches_a_partner_whose_delivery_record_expired(retained):
    """Records go with the retention; what the partner acknowledged stays, and decides who hears of
    a withdrawal."""
    ctx, aid = retained.ctx, f"ret-withdrawn-{uuid.uuid4().hex[:8]}"
    retained.post(article_event(aid, categories=["Kept"]))
    first = wait_for(lambda: retained.has(aid, "kept", "delivered"), timeout=20, what="v1 delivered")
    wait_for(lambda: not ctx.redis.exists(ctx.keys.delivery(first["id"])), timeout=20, what="v1's record expired")
    retained.post(withdrawal(aid, 2))
    wait_for(lambda: any(b'"article.withdrawn"' in r.body for r in retained.kept.for_article(aid)), timeout=20,
             what="the withdrawal pushed to the partner that had v1")
