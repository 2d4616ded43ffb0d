"""The end-state check: what the service holds once settled, against the truth the stream recorded.

What the partners must hold is computed from what the test sent (the stream's answers), and
what they hold from the requests they answered 2xx: the two are counted independently and
compared. `check` raises AssertionError naming the first violation, else returns a Report
(one row of the suite's summary table).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass

import feedparser
import requests

from syndication.articles import ArticleStore
from syndication.delivery import records
from syndication.feeds import index, store
from syndication.infra.context import Context
from tests.faults.harness.cluster import Cluster
from tests.faults.harness.config import FEEDS, PARTNERS, SETTLE_BOUND
from tests.faults.harness.stream import Stream

Version = tuple[str, int]  # (article id, version)


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


@dataclass
class Holdings:
    """What the partners hold: the 2xx requests whose body arrived whole, by (article, version)."""

    got: dict[str, dict[Version, set[str]]]  # partner -> (article, version) -> webhook-ids
    docs: dict[tuple[str, Version], dict]  # (partner, (article, version)) -> the first body
    first_ok: dict[str, float]  # webhook-id -> when it was first answered 2xx
    duplicated: set[str]  # webhook-ids answered 2xx more than once
    raw_duplicates: int  # 2xx requests repeating a webhook-id


def check(cluster: Cluster, stream: Stream, scenario: str, fault_end: float, *,
          may_lose: set[str] = frozenset()) -> Report:
    """Every end-state guarantee; raises AssertionError naming the first violation.

    `may_lose`: events answered 202 that a Redis crash may have taken with it; such an event
    must be gone entirely (no record), never half there.
    """
    cluster.settle(time.time() + SETTLE_BOUND)
    ctx = cluster.ctx
    # 1. Every event answered 2xx was applied (or found stale), except what the crash may take.
    lost = _events_applied(ctx, stream, may_lose)
    latest = stream.latest(exclude=lost)
    # 2. What each partner holds: the 2xx requests, by (article, version), deduplicated by webhook-id.
    held = _holdings(cluster, stream, lost)
    # 3. What each partner must hold, from the truth alone, against what it holds.
    must, may = _owed(cluster, stream, latest, lost, held.got)
    effective, lateness, worst = _delivered_once(ctx, stream, latest, must, may, held, fault_end)
    # 4. No delivery left waiting or in flight.
    for pid in PARTNERS:
        assert ctx.redis.zcard(ctx.keys.partner_due(pid)) == 0 and ctx.redis.zcard(ctx.keys.partner_inflight(pid)) == 0
    # 5. Feeds equal a render from scratch of the final state, and hold the newest live articles.
    _feeds_fresh(cluster, latest)
    return Report(scenario, stream.total, stream.sent, len(must), effective, held.raw_duplicates,
                  held.duplicated, max(0.0, lateness), worst, lost=len(lost))


def _events_applied(ctx: Context, stream: Stream, may_lose: set[str]) -> set[str]:
    """The events answered 2xx that left no trace (each allowed by `may_lose`); every other one applied."""
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
    for aid, ev in stream.latest(exclude=lost).items():
        state = ArticleStore.of(ctx).get(aid)
        assert state is not None and state.version == ev["article"]["version"], (aid, state, ev["event_id"])
        assert state.withdrawn == (ev["type"] == "article.withdrawn"), aid
    return lost


def _holdings(cluster: Cluster, stream: Stream, lost: set[str]) -> Holdings:
    """Each partner's whole 2xx requests, each checked to be a version sent, as sent, to a partner that wants it."""
    sent_as = {(a.event["article"]["id"], a.event["article"]["version"]): a.event
               for eid, a in stream.answers.items() if eid not in lost}
    held = Holdings({}, {}, {}, set(), 0)
    mislabelled = set()
    for pid, rec in cluster.partners.items():
        with rec.lock:
            # A request whose body was cut short (its sender killed mid-request) reached no one:
            # a real partner cannot parse it, and no answer went back.
            ok = [r for r in rec.requests if r.status_sent is not None and 200 <= r.status_sent < 300
                  and len(r.body) == int(r.headers.get("content-length") or 0)]
        seen = Counter(r.webhook_id for r in ok)
        held.raw_duplicates += sum(n - 1 for n in seen.values())
        held.duplicated |= {wid for wid, n in seen.items() if n > 1}
        held.got[pid] = {}
        for r in ok:
            doc = json.loads(r.body)
            key = (doc["article"]["id"], doc["article"]["version"])
            ev = sent_as.get(key)
            assert ev is not None, f"partner {pid} got {key}, a version no one sent"
            # A withdrawal is pushed as a withdrawal, a version as a version its partner wants.
            # (An older version's push may carry newer content: it is rendered from the article
            # as it is when sent. The newest version's content is checked in _delivered_once.)
            withdrawal = ev["type"] == "article.withdrawn"
            assert (doc["type"] == "article.withdrawn") == withdrawal, (
                f"partner {pid} got {key} as {doc['type']}, sent as {ev['type']}")
            if not withdrawal:
                assert cluster.wants(pid, ev), f"partner {pid} got {key}, which it does not want"
            if doc["event_id"] != ev["event_id"]:
                mislabelled.add((pid, key, doc["event_id"]))
            held.docs.setdefault((pid, key), doc)
            held.got[pid].setdefault(key, set()).add(r.webhook_id)
            held.first_ok.setdefault(r.webhook_id, r.at)
    # Each push carries its own version's event (id and type): never an older event's label on
    # a newer version (two interleaved applies of one article did that: test_interleaved_applies).
    assert not mislabelled, f"pushes labelled with another version's event: {sorted(mislabelled)[:5]}"
    return held


def _owed(cluster: Cluster, stream: Stream, latest: dict[str, dict], lost: set[str],
          got: dict[str, dict[Version, set[str]]]) -> tuple[set, set]:
    """(article, newest version, partner) triples each partner must hold, and those it may hold."""
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
    return must, may


def _delivered_once(ctx: Context, stream: Stream, latest: dict[str, dict], must: set, may: set,
                    held: Holdings, fault_end: float) -> tuple[int, float, str]:
    """Every owed triple arrived under exactly one webhook-id, nothing unowed did: (count, worst lateness, its name)."""
    effective = 0
    missing, doubled, lateness, worst = [], [], 0.0, ""
    for aid, version, pid in sorted(must):
        ids = held.got[pid].get((aid, version), set())
        effective += len(ids)
        if not ids:
            missing.append((aid, version, pid))
        elif len(ids) > 1:
            doubled.append((aid, version, pid, ids))
        else:
            ev, doc = latest[aid], held.docs[(pid, (aid, version))]
            if ev["type"] != "article.withdrawn":  # the newest version's push holds that version's content
                assert doc["article"]["headline"] == ev["article"]["headline"], (pid, aid, version, doc["article"])
            late = held.first_ok[next(iter(ids))] - max(stream.answers[latest[aid]["event_id"]].at, fault_end)
            if late > lateness:
                lateness, worst = late, f"{aid} v{version} to {pid}"
    assert not missing, f"{len(missing)} deliveries never arrived, e.g. {missing[:3]}: {_records(ctx, missing[0][0])}"
    assert not doubled, f"delivered under several webhook-ids: {doubled[:3]}"
    for pid in PARTNERS:
        for (aid, version) in held.got[pid]:
            newest = latest.get(aid)
            if newest and newest["article"]["version"] == version and newest["type"] == "article.withdrawn":
                assert (aid, version, pid) in must | may, f"partner {pid} got withdrawal of {aid} it never had"
    assert effective == len(must), (effective, len(must))
    return effective, lateness, worst


def _feeds_fresh(cluster: Cluster, latest: dict[str, dict]) -> None:
    """Each feed equals a render from scratch, and `all` serves the 50 newest live articles."""
    ctx = cluster.ctx
    for name in FEEDS:
        index.rebuild(ctx, ctx.settings.feed(name))  # the index from scratch, from article state alone
        fresh = store.render_all(ctx, name)
        for fmt in ("rss", "atom", "json"):
            stored = ctx.redis.hget(ctx.keys.feed_rendered(name, fmt), "body")
            assert stored == fresh[fmt], f"{name}.{fmt} differs from a fresh render"
    live = sorted((ev["article"]["published_at"], aid) for aid, ev in latest.items()
                  if ev["type"] != "article.withdrawn")
    want = {aid for _, aid in live[-50:]}
    resp = requests.get(f"{cluster.api_url}/feeds/all.rss", timeout=5)
    assert resp.status_code == 200, resp.status_code  # an error page would parse as an empty feed
    served = {e.link.rsplit("/", 1)[1] for e in feedparser.parse(resp.content).entries}
    assert served == want, f"feed all: missing {sorted(want - served)[:5]}, extra {sorted(served - want)[:5]}"


def _records(ctx: Context, aid: str) -> list:
    """An article's state, events and deliveries, for the message of a missing delivery."""
    state = ArticleStore.of(ctx).get(aid)
    events = [json.loads(x) for x in ctx.redis.lrange(ctx.keys.events_log, 0, -1)]
    return [("state", state and (state.version, state.withdrawn, state.event_id)),
            [e for e in events if e["article_id"] == aid]] + [
        (r["partner"], r["version"], r["status"], r.get("attempts"), r.get("last_error"),
         records.attempts(ctx, r["id"])) for r in records.for_article(ctx, aid)]
