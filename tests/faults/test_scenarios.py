"""Break the running service mid-stream in ten ways; every guarantee must hold at the end.

Each scenario starts its own cluster (redis-server with AOF everysec, API, one worker per
queue, two partners), streams events through POST /v1/events, injects its fault
while events are still being posted, and `check()` verifies the end state: every event
answered 2xx applied, each article at its newest version, each partner holding exactly
the (article, newest version) pushes it must hold, feeds equal to a fresh render.

Each scenario also asserts
- that the fault hit a busy service: events answered before it began and after it ended;
- for a kill, that work was in flight at that moment (read from Redis while the victim is
  frozen, so the snapshot is exactly what died with it), and that it came back the way the
  docs say (explanation/promises.md): leased deliveries when their lease runs out, lost applies by the re-drive,
  a lost render when its lock expires;
- raw duplicates (2xx requests repeating a webhook-id): none when a partner misbehaves, at
  most one per push running at a kill, and only of deliveries leased at that moment;
- max recovery (the longest any delivery arrived after the later of its event's 202 and the
  end of the fault) within a bound built from the configured timing (harness.Timing).

The graceful Redis restart and the feeds-worker kill (which waits out the 30 s render lock)
run only in the full version (`make faults`); the summary table is printed at the end.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import pytest
import requests

from tests.faults.harness import API_KEY, Cluster, InFlight, Stream, Timing as T, check, kill
from tests.support.processes import wait_for
from tests.support.receiver import Reply

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@dataclass
class Fault:
    end: float  # when the fault was undone (process back and ready, partner healed)
    notes: str
    bound: float  # max recovery allowed, from harness.Timing
    in_flight: str = "-"
    max_duplicates: int = 0  # raw duplicates allowed
    duplicable: set[str] | None = None  # the only webhook-ids that may repeat (None: any, up to the count)
    may_lose: set[str] = field(default_factory=set)
    verify: Callable | None = None  # more checks, while the cluster still runs


def run(tmp_path, size, report_rows, name: str, fault, span: float, events: int | None = None, **cluster_kw):
    """Stream, break something after `size.lead` seconds, check everything. `span`: the fault's length."""
    with Cluster(tmp_path, **cluster_kw) as cluster:
        stream = Stream(cluster, events or size.events(span), size.rate).start()
        stream.wait_answered(int(size.rate * size.lead))
        began = time.time()
        f: Fault = fault(cluster, stream)
        stream.join()
        # The fault hit a busy service: the stream ran for the lead before it and at least a
        # second past its end.
        before, after = stream.answered_between(0, began), stream.answered_between(f.end)
        assert before >= size.rate * size.lead * 0.8 and after >= size.rate, (
            f"the fault did not hit a busy stream: {before} events answered before it, {after} after")
        report = check(cluster, stream, name, f.end, may_lose=f.may_lose)
        report.bound, report.in_flight = f.bound, f.in_flight
        report.notes = f"{f.notes}; {stream.counts()}; {after} answered after the fault"
        report_rows.append(report)
        assert report.raw_duplicates <= f.max_duplicates, (
            f"{report.raw_duplicates} raw duplicates, at most {f.max_duplicates} allowed: {sorted(report.duplicated)[:5]}")
        if f.duplicable is not None:
            assert report.duplicated <= f.duplicable, f"repeated, yet not in flight: {report.duplicated - f.duplicable}"
        assert report.max_recovery <= f.bound, (
            f"max recovery {report.max_recovery:.1f} s ({report.worst}) over the bound {f.bound:.1f} s")
        if f.verify:
            f.verify(cluster, stream, report)
        return cluster, report


def pushes_running(snap: InFlight) -> bool:
    return sum(snap.slots.values()) > 0 and any(snap.deliveries.values())


def leased(snap: InFlight) -> set[str]:
    return {did for ids in snap.deliveries.values() for did in ids}


# -- kill -9 of a process --------------------------------------------------------------------


def test_kill_9_deliveries_worker(tmp_path, size, report_rows):
    down = 3.0

    def fault(c, s):
        snap, looks = c.kill_when_busy("deliveries", pushes_running)
        released = c.watch_leases(snap)
        time.sleep(down)
        c.restart("deliveries")

        def verify(cluster, stream, report):
            # What the dead worker held went back in line when its lease ran out (not before:
            # nothing else may take a leased delivery), within a sweep, plus the slack.
            leases = {did: until for ids in snap.deliveries.values() for did, until in ids.items()}
            assert set(released) == set(leases), f"never handed back: {set(leases) - set(released)}"
            after = {did: released[did] - until for did, until in leases.items()}
            assert min(after.values()) >= -0.1, f"handed back before its lease ran out: {after}"
            assert max(after.values()) <= T.SWEEP + T.SLACK, f"handed back late: {after}"
            report.notes += (f"; the {len(leases)} leased deliveries handed back {min(after.values()):.1f}-"
                             f"{max(after.values()):.1f} s after their lease ({T.LEASE:.0f} s) ran out")

        # Its leases expire LEASE after the kill at the latest, the sweeper hands them back within a sweep.
        return Fault(time.time(), f"deliveries worker kill -9 ({looks} looks), restart after {down:.0f} s",
                     bound=max(0.0, T.LEASE - down) + T.SWEEP + T.SLACK, in_flight=snap.describe("deliveries"),
                     # A running push records per group: the leased deliveries it sent since its last
                     # group were answered, maybe, but not recorded; each is re-sent at most once.
                     max_duplicates=len(leased(snap)), duplicable=leased(snap), verify=verify)

    run(tmp_path, size, report_rows, "1 kill -9 deliveries worker", fault, span=down + 3)


def test_kill_9_events_worker(tmp_path, size, report_rows):
    down = 2.0

    def fault(c, s):
        snap, looks = c.kill_when_busy("events", lambda x: x.lost_applies)
        lost = sorted(snap.lost_applies)
        applied = watch_applied(c, lost)
        time.sleep(down)
        c.restart("events")
        end = time.time()

        def verify(cluster, stream, report):
            ctx = cluster.ctx
            for eid in lost:
                # Celery never handed the lost batch back (it is still taken, by a dead worker, and
                # would be for the 30-minute visibility timeout): the sweeper's re-drive applied it,
                # which it does only once the batch's claim (REDRIVE_AFTER) has run out.
                assert cluster.in_flight().taken("apply_events"), eid
                received = float(ctx.redis.hget(ctx.keys.event(eid), "received_at"))
                assert eid in applied, f"{eid} was not seen applied"
                assert applied[eid] - received >= T.REDRIVE_AFTER, (eid, applied[eid] - received)
            waited = max(applied[e] - float(ctx.redis.hget(ctx.keys.event(e), "received_at")) for e in lost)
            report.notes += f"; lost applies re-driven {waited:.1f} s after their 202"

        return Fault(end, f"events worker kill -9 ({looks} looks), restart after {down:.0f} s",
                     bound=max(0.0, T.REDRIVE_AFTER + T.SWEEP - down) + T.SLACK,
                     in_flight=snap.describe("applies"), verify=verify)

    run(tmp_path, size, report_rows, "2 kill -9 events worker", fault, span=down + 3)


def test_kill_9_feeds_worker(tmp_path, size, report_rows):
    if not size.full:
        pytest.skip("waits out the 30 s render lock: make faults")
    down = 2.0

    def fault(c, s):
        snap, looks = c.kill_when_busy("feeds", lambda x: x.lost_renders)
        expiry = snap.lost_renders  # feed -> when its lock (held by the dead render) expires
        rendered = watch_rendered(c, list(expiry), after=snap.at)
        time.sleep(down)
        c.restart("feeds")  # it also hosts the sweeper, so nothing was swept meanwhile
        end = time.time()

        def verify(cluster, stream, report):
            # The stream ended well before the lock expired: no later event's apply could take the
            # lock, so the render after it was queued by the sweeper (orphaned dirty feeds).
            last = max(a.at for a in stream.answers.values())
            assert last < min(expiry.values()) - 5, "the stream ran until the lock expired"
            late = []
            for name, until in expiry.items():
                assert name in rendered, f"feed {name} never rendered again"
                # Nothing re-queues the render before the lock expires; the sweeper does right after.
                assert rendered[name] >= until - 0.05, (name, rendered[name] - until)
                late.append(rendered[name] - until)
                assert late[-1] <= T.SWEEP + T.RENDER_WINDOW + T.SLACK, (name, late[-1])
            report.notes += (f"; lost render re-queued when the {T.RENDER_LOCK:.0f} s lock expired, rendered "
                             f"{max(late):.1f} s after (bound {T.SWEEP + T.RENDER_WINDOW + T.SLACK:.0f} s)")

        return Fault(end, f"feeds worker kill -9 ({looks} looks), restart after {down:.0f} s",
                     bound=T.SWEEP + T.SLACK, in_flight=snap.describe("renders"), verify=verify)

    # A stream that ends long before the lock expires (not the full size's 1,200 events).
    run(tmp_path, size, report_rows, "10 kill -9 feeds worker", fault, span=down + 3,
        events=math.ceil(size.rate * (size.lead + down + size.tail)))


def test_kill_9_api_while_posting(tmp_path, size, report_rows):
    down = 2.0

    def fault(c, s):
        under_way = []

        def posting(_):
            # A POST under way for 5 ms has reached the API: it dies with the request unanswered.
            under_way[:] = [p for p in s.posting if p is not None and p < time.time() - 0.005]
            return bool(under_way)

        snap, looks = c.kill_when_busy("api", posting)
        time.sleep(down)
        c.restart("api")

        def verify(cluster, stream, report):
            cut = stream.cut_at(snap.at)
            assert cut, "no POST was under way when the API died"
            # Those events were retried with the same event_id: 202 if the API died before
            # storing them, 200 if after (then queued again at once).
            statuses = [stream.answers[a.event_id].status for a in cut]
            report.notes += f"; answers to the retried cut POSTs: {statuses}"

        return Fault(time.time(), f"API kill -9 ({looks} looks), restart after {down:.0f} s",
                     bound=T.SLACK, in_flight=f"{len(under_way)} POSTs under way",
                     verify=verify)

    run(tmp_path, size, report_rows, "7 kill -9 API", fault, span=down + 3)


# -- Redis -----------------------------------------------------------------------------------


def redis_outage(crash: bool):
    def fault(c, s):
        snap, looks = c.freeze_redis_when_busy(pushes_running)
        leases = {did: until for ids in snap.deliveries.values() for did, until in ids.items()}
        (c.redis.crash if crash else c.redis.shutdown_nosave)()
        down_at = time.time()
        outage = probe_outage(c)
        c.redis.start()
        end = time.time()
        down = end - down_at
        # AOF everysec: what was written in the last second before the crash may not be on disk.
        # Writes stopped at snap.at (paused), so that second is [snap.at - 1, snap.at]. A clean
        # shutdown flushes the AOF: nothing may be lost then.
        may_lose = ({eid for eid, a in s.answers.items() if a.status == 202 and snap.at - 1.0 <= a.at <= down_at}
                    if crash else set())
        released = c.watch_leases(snap)  # Redis is back: as it was when writes were paused
        s.post_extra(outage.pop("probe"))  # the event refused during the outage, now accepted like any other

        def verify(cluster, stream, report):
            report.notes += f"; 202s lost: {report.lost} (allowed: {len(may_lose)}, answered in the last second)"
            # Deliveries leased at the crash are recorded by their (living) worker once Redis is
            # back, or handed back when their lease runs out: never later than that and a sweep.
            assert set(released) == set(leases), f"never handed back: {set(leases) - set(released)}"
            late = max(released[did] - until for did, until in leases.items())
            assert late <= T.SWEEP + T.SLACK, f"a leased delivery handed back {late:.1f} s after its lease"

        what = "redis-server kill -9" if crash else "SHUTDOWN NOSAVE"
        return Fault(end, f"{what} (AOF everysec), start again after {down:.1f} s; during it {outage}",
                     # A push on the wire at the crash is re-sent when its lease runs out; an event
                     # whose apply was cut is re-driven after REDRIVE_AFTER.
                     bound=max(T.LEASE - down, T.REDRIVE_AFTER) + T.SWEEP + T.SLACK,
                     in_flight=snap.describe("deliveries", "applies"),
                     max_duplicates=len(leased(snap)), duplicable=leased(snap),
                     may_lose=may_lose, verify=verify)

    return fault


def probe_outage(c: Cluster) -> dict:
    """While Redis is down: POST /v1/events answers 503 with Retry-After, /readyz answers 503."""
    aid = f"probe-{c.redis.port}"
    probe = {"event_id": aid, "type": "article.published", "occurred_at": "2026-11-25T10:00:00Z",
             "article": {"id": aid, "version": 1, "url": f"https://news.example/{aid}",
                         "language": "en", "headline": "Probe", "categories": ["Economy"],
                         "published_at": "2026-11-25T10:00:00Z"}}
    out: dict = {}

    def post():
        out["post"] = requests.post(f"{c.api_url}/v1/events", json=probe, timeout=15,
                                    headers={"Authorization": f"Bearer {API_KEY}"})

    def ready():
        out["ready"] = requests.get(f"{c.api_url}/readyz", timeout=15)

    threads = [threading.Thread(target=post), threading.Thread(target=ready)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r, ready_r = out["post"], out["ready"]
    assert r.status_code == 503 and r.json()["error"] == "unavailable", (r.status_code, r.text)
    assert int(r.headers["Retry-After"]) >= 1, r.headers
    assert ready_r.status_code == 503 and ready_r.json()["status"] == "unavailable", (ready_r.status_code, ready_r.text)
    return {"probe": probe, "POST": f"503 Retry-After {r.headers['Retry-After']}", "readyz": 503}


def test_post_answers_503_when_redis_dies_after_storing(tmp_path):
    """Docs (explanation/promises.md): POST /v1/events answers 503 if Redis is unreachable; a 500 means our fault.

    Redis dies between the two writes of an accept: the event stored, its apply task not yet
    queued. Writes are paused the moment the event's record appears (the enqueue then waits
    on Redis, or has not been sent yet), and Redis is killed: the client must get 503 (it got
    500 until the broker's error was mapped), and its retry with the same event_id, once Redis
    is back, 200, and the event is queued and applied.
    """
    with Cluster(tmp_path) as c:
        kill(c.procs["events"])  # nothing consumes the events queue: a queued apply stays visible
        r, k = c.ctx.redis, c.ctx.keys
        for i in range(300):
            aid = f"crash-{i}"
            ev = {"event_id": aid, "type": "article.published", "occurred_at": "2026-11-25T10:00:00Z",
                  "article": {"id": aid, "version": 1, "url": f"https://news.example/{aid}", "language": "en",
                              "headline": aid, "published_at": "2026-11-25T10:00:00Z"}}
            answer: dict = {}

            def post():
                answer["r"] = requests.post(f"{c.api_url}/v1/events", json=ev, timeout=30,
                                            headers={"Authorization": f"Bearer {API_KEY}"})

            poster = threading.Thread(target=post)
            poster.start()
            wait_for(lambda: r.exists(k.event(aid)), timeout=10, interval=0.0002, what="the event stored")
            r.execute_command("CLIENT", "PAUSE", 30000, "WRITE")
            if any(aid.encode() in m for m in r.lrange(k.celery_queue("events"), 0, -1)):
                r.execute_command("CLIENT", "UNPAUSE")  # too late: already queued; try the next event
                poster.join()
                continue
            c.redis.crash()
            poster.join()
            break
        else:
            pytest.fail("never caught an accept between its store and its enqueue")
        resp = answer["r"]
        assert resp.status_code == 503, (i, resp.status_code, resp.text)
        assert int(resp.headers["Retry-After"]) >= 1, resp.headers
        c.redis.start()
        c.restart("events")
        again = requests.post(f"{c.api_url}/v1/events", json=ev, timeout=30, headers={"Authorization": f"Bearer {API_KEY}"})
        assert again.status_code == 200, (again.status_code, again.text)  # stored before the crash (AOF)
        wait_for(lambda: r.hget(k.event(aid), "status") == b"applied", timeout=30, what="the retried event applied")


def test_redis_kill_9(tmp_path, size, report_rows):
    run(tmp_path, size, report_rows, "9 kill -9 redis-server", redis_outage(crash=True), span=6)


def test_redis_restart(tmp_path, size, report_rows):
    if not size.full:
        pytest.skip("the crash (9) covers it in the short suite: make faults")
    run(tmp_path, size, report_rows, "3 Redis restart (clean)", redis_outage(crash=False), span=6)


# -- partners --------------------------------------------------------------------------------


def partner_fault(reply: Reply, seconds: float, note: str, bound: float, verify=None):
    def fault(c, s):
        c.partners["b"].default = reply
        started = time.time()
        time.sleep(seconds)
        c.partners["b"].default = Reply()
        c.window = (started, time.time())
        return Fault(time.time(), note, bound=bound, verify=verify)  # partner faults: no raw duplicate at all

    return fault


def test_partner_503_storm(tmp_path, size, report_rows):
    stretch = 20 if size.full else 8

    def verify(cluster, stream, report):
        ctx = cluster.ctx
        health = {k.decode(): v.decode() for k, v in ctx.redis.hgetall(ctx.keys.partner_circuit("b")).items()}
        assert int(health.get("opened_count", 0)) >= 1 and health["state"] == "closed", health
        failed = [r for r in cluster.partners["b"].requests if r.status_sent == 503]
        # No retry storm: until the breaker opens, `threshold` failures plus one per other running
        # push; while open, one probe per cool-down (a failed probe re-opens it).
        bound = T.BREAKER_THRESHOLD + T.MAX_IN_FLIGHT + math.ceil(stretch / T.BREAKER_COOLDOWN) + 1
        report.notes += f"; circuit opened {health['opened_count']}x, {len(failed)} requests answered 503 (bound {bound})"
        assert len(failed) <= bound

    fault = partner_fault(Reply(503), stretch, f"partner b answers 503 for {stretch} s",
                          max(T.BREAKER_COOLDOWN, T.MAX_BACKOFF) + T.SWEEP + T.SLACK, verify)
    run(tmp_path, size, report_rows, "4 partner 503 storm", fault, span=stretch)


def test_partner_429_with_retry_after(tmp_path, size, report_rows):
    stretch, wait = 6, 2

    def verify(cluster, stream, report):
        by_id: dict[str, list] = {}
        for r in cluster.partners["b"].requests:
            by_id.setdefault(r.webhook_id, []).append(r)
        pairs = [(x, y) for attempts in by_id.values() for x, y in zip(attempts, attempts[1:]) if x.status_sent == 429]
        assert pairs, "no delivery was retried after a 429"
        early = [(y.at - x.at, x.webhook_id) for x, y in pairs if y.at - x.at < wait - 0.1]
        assert not early, f"retried before Retry-After: {early[:3]}"
        report.notes += f"; {len(pairs)} retries after a 429, the soonest {min(y.at - x.at for x, y in pairs):.1f} s later"

    fault = partner_fault(Reply(429, headers={"Retry-After": str(wait)}), stretch,
                          f"partner b answers 429 Retry-After: {wait} for {stretch} s",
                          max(T.BREAKER_COOLDOWN, T.MAX_BACKOFF, wait) + T.SWEEP + T.SLACK, verify)
    run(tmp_path, size, report_rows, "5 partner 429 Retry-After", fault, span=stretch)


def test_partner_that_never_answers(tmp_path, size, report_rows):
    stretch = 10 if size.full else 8

    def verify(cluster, stream, report):
        # Partner a never waited behind one of b's hung requests (they take READ seconds to fail):
        # every event accepted during the hang that a wants reached it sooner than that.
        start, end = cluster.window
        hung = [r for r in cluster.partners["b"].requests if r.status_sent is None and start <= r.at <= end]
        assert hung, "partner b was never asked anything while it hung"
        arrived = {}
        for r in cluster.partners["a"].requests:
            if r.status_sent == 200:
                arrived.setdefault(json.loads(r.body)["event_id"], r.at)
        during = [a for a in stream.answers.values() if start <= a.at <= end and a.event["event_id"] in arrived]
        assert len(during) >= stretch * stream.rate / 4, f"only {len(during)} pushes to a during the hang"
        worst = max(arrived[a.event["event_id"]] - a.at for a in during)
        report.notes += (f"; {len(hung)} requests hung; partner a meanwhile: {len(during)} pushes, "
                         f"the slowest {worst:.2f} s after its 202")
        assert worst < T.READ, f"a push to partner a waited {worst:.1f} s while b hung"

    fault = partner_fault(Reply(hang=True), stretch, f"partner b accepts and never answers for {stretch} s",
                          T.READ + max(T.BREAKER_COOLDOWN, T.MAX_BACKOFF) + T.SWEEP + T.SLACK, verify)
    run(tmp_path, size, report_rows, "6 partner never answers", fault, span=stretch)


# -- the sweeper's home -------------------------------------------------------------------------


def test_feeds_worker_down_then_extra_sweepers(tmp_path, size, report_rows):
    """Sweeping lives in every worker: with one worker dead, retries to a healthy partner still
    come due and land, status names the dead worker; with more workers, still one sweep a second."""
    feeds_down, crowd = 22.0, 5.0  # down long enough to be listed as missing (OFFLINE_AFTER, 15 s)

    def fault(c, s):
        ctx = c.ctx
        c.procs["feeds"].kill()  # kill -9: no clean goodbye, its heartbeat just stops
        stopped = time.time()
        c.partners["b"].default = Reply(503)
        # Retries scheduled while the feeds worker is dead (condition, not a fixed wait).
        wait_for(lambda: ctx.redis.zcard(ctx.keys.partner_due("b")) >= 3, timeout=30, what="retries scheduled")
        waiting = ctx.redis.zcard(ctx.keys.partner_due("b"))
        retrying = [i.decode() for i in ctx.redis.zrangebyscore(ctx.keys.partner_due("b"), time.time(), "+inf")]
        c.partners["b"].default = Reply()
        healed = time.time()
        # Those retries come due and land with the feeds worker still dead (events keep streaming,
        # so the due set itself never empties: follow the retries scheduled during the outage).
        wait_for(lambda: all(ctx.redis.hget(ctx.keys.delivery(d), "status") in (b"delivered", b"superseded")
                             for d in retrying), timeout=T.BREAKER_COOLDOWN + T.MAX_BACKOFF + 10,
                 what="retries landed while the feeds worker is down")
        drained = time.time() - healed
        from syndication.ops import heartbeats

        wait_for(lambda: any(w["name"].startswith("feeds-") and not w["online"] for w in heartbeats.roster(ctx)),
                 timeout=heartbeats.OFFLINE_AFTER + 10, what="the dead feeds worker listed as missing")
        time.sleep(max(0.0, stopped + feeds_down - time.time()))
        c.restart("feeds")
        end = time.time()
        extra = c.extra_worker("events")
        before, t0 = _sweeps(ctx), time.time()
        time.sleep(crowd)  # the measurement window
        after, t1 = _sweeps(ctx), time.time()
        extra.stop()
        ran = after["ran"] - before["ran"]

        def verify(cluster, stream, report):
            # Four workers sweep; the lock (900 ms) lets at most one sweep run per 0.9 s, and a
            # loop sleeping 1 s in each of four workers leaves no second without one.
            assert 0.7 <= ran / (t1 - t0) <= 1 / 0.9 + 0.1, ran / (t1 - t0)
            # The bound: a retry to a healthy partner lands within 10 s with a worker down
            # (the circuit's cool-down, when the outage opened it, comes on top).
            assert drained <= 10 + T.BREAKER_COOLDOWN, drained

        return Fault(end, (f"feeds worker killed {feeds_down:.0f} s ({waiting} retries scheduled meanwhile, "
                           f"drained {drained:.1f} s after the partner healed), then 4 sweeping workers "
                           f"for {t1 - t0:.0f} s: {ran / (t1 - t0):.2f} sweeps/s"),
                     bound=T.BREAKER_COOLDOWN + T.SWEEP + T.SLACK, verify=verify)

    run(tmp_path, size, report_rows, "8 feeds worker killed, then extra sweepers", fault, span=feeds_down + crowd)


def _sweeps(ctx) -> dict:
    raw = ctx.redis.hgetall(f"{ctx.keys.prefix}metrics:sweeps")
    out = {"ran": 0.0, "skipped": 0.0}
    for k, v in raw.items():
        out[k.decode().split("=", 1)[1]] = float(v)
    return out


# -- watchers ----------------------------------------------------------------------------------


def watch_applied(c: Cluster, event_ids: list[str], timeout: float = 120) -> dict[str, float]:
    """When each event stops being 'accepted' (polled every 20 ms in a thread); filled in as it happens."""
    seen: dict[str, float] = {}

    def loop():
        deadline = time.time() + timeout
        while len(seen) < len(event_ids) and time.time() < deadline:
            for eid in event_ids:
                if eid not in seen and c.ctx.redis.hget(c.ctx.keys.event(eid), "status") in (b"applied", b"stale"):
                    seen[eid] = time.time()
            time.sleep(0.02)

    threading.Thread(target=loop, daemon=True).start()
    return seen


def watch_rendered(c: Cluster, feeds: list[str], after: float, timeout: float = 120) -> dict[str, float]:
    """When each feed is next rendered after `after` (its stored last_render_at, polled every 50 ms)."""
    seen: dict[str, float] = {}

    def loop():
        deadline = time.time() + timeout
        while len(seen) < len(feeds) and time.time() < deadline:
            for name in feeds:
                at = c.feed_rendered_at(name)
                if name not in seen and at > after:
                    seen[name] = at
            time.sleep(0.05)

    threading.Thread(target=loop, daemon=True).start()
    return seen
