"""A service of its own for the embargo-leak tests (issue 22, item 1), and everything its
`embargo: hold` partners and anonymous readers could have seen.

    world = next(leaks.running(redis_url, tmp))     # module fixtures: `yield from leaks.running(...)`
    world.apply(leaks.version_event(aid, 1, "PUBLIC-v1", marker))     # posted, and applied
    world.settle([aid])                             # a later sentinel went everywhere, every delivery final
    world.leaks(world.hold_views(), [marker])       # ["push to hold-rss #3: holds 'abc...' ...", ...]

The service: API, events, feeds and deliveries workers on the session's redis-server under a key
prefix of its own (so its change log, feeds and deliveries hold only these tests' articles).
Partners, all matching every article (no filters), each with its own receiver and a pull token:

- `embargo: hold` (the default) in every push format: hold-json, hold-ninjs, hold-ninjs3,
  hold-atom, hold-rss, hold-newsml;
- `embargo: send`: send-ninjs, send-json, send-newsml (held versions are released to them at once).

Feeds: `all` and `leak` (public), `partners` (`access: partner`, read with a feed key); an ops
webhook receiver. "Nothing was pushed" is only asserted after `settle`: a sentinel article posted
after the sequence has reached every hold partner, every hold partner's pull stream and every
feed, and every delivery record of the articles under test is final (so no push is still coming).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import requests
import yaml

from syndication.configuration import load_settings
from syndication.delivery import records
from syndication.infra.context import Context
from tests.support import logscan
from tests.support.events import article_event, sentinel
from tests.support.processes import api, free_port, start_all, stop_all, wait_for, worker
from tests.support.receiver import Receiver

HOLD = {"hold-json": "json", "hold-ninjs": "ninjs", "hold-ninjs3": "ninjs3", "hold-atom": "atom", "hold-rss": "rss",
        "hold-newsml": "newsml-g2"}
SEND = {"send-ninjs": "ninjs", "send-json": "json", "send-newsml": "newsml-g2"}
CATEGORY = ["Leak"]
PUBLIC_FEEDS = ("all", "leak")
PARTNER_FEED = "partners"
FEED_FORMATS = ("rss", "atom", "json")
HOUR = 3600.0
FINAL = {s.value for s in records.FINAL}
API_KEY = f"leak-publisher-{uuid.uuid4().hex[:12]}"
FEED_KEY = f"leak-feed-{uuid.uuid4().hex[:12]}"


def token_env(pid: str) -> str:
    return pid.upper().replace("-", "_") + "_PULL_TOKEN"


TOKENS = {token_env(pid): f"pull-{pid}-{uuid.uuid4().hex[:16]}" for pid in [*HOLD, *SEND]}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).replace(microsecond=0).isoformat()


def version_event(aid: str, version: int, label: str, marker: str, *, embargo: float | None = None,
                  type: str | None = None) -> dict:
    """A published/updated event whose headline (`<label>-<marker>`), summary, body and URL all
    carry `marker` (one of its own per version); `embargo`: seconds from now of its `embargoed`
    instant (negative: already past, so not held)."""
    extra = {"embargoed": iso(time.time() + embargo)} if embargo is not None else {}
    return article_event(aid, version, type=type, categories=CATEGORY, headline=f"{label}-{marker}",
                         summary=f"Summary of {marker}", body_html=f"<p>Body of {marker}.</p>",
                         url=f"https://news.example/en/{aid}/{marker}", **extra)


@dataclass
class LeakWorld:
    base: str
    env: dict
    ctx: Context
    receivers: dict[str, Receiver]
    ops: Receiver
    pulled: dict[str, list[dict]] = field(default_factory=dict)  # partner -> every item read so far
    cursors: dict[str, str | None] = field(default_factory=dict)

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    # -- posting ---------------------------------------------------------------------------------

    def post(self, event: dict) -> None:
        resp = requests.post(f"{self.base}/v1/events", data=json.dumps(event), headers=self.headers, timeout=10)
        assert resp.status_code == 202, resp.text

    def applied(self, event_id: str, timeout: float = 20) -> None:
        key = self.ctx.keys.event(event_id)

        def done():
            status, failures, error = self.ctx.redis.hmget(key, "status", "failures", "last_error")
            assert not failures, f"event {event_id} failed to apply: {error!r}"
            return status in (b"applied", b"stale")

        wait_for(done, timeout, 0.01, f"event {event_id} applied")

    def apply(self, event: dict) -> None:
        """Post the event and wait until the events worker applied it (so the next one comes after)."""
        self.post(event)
        self.applied(event["event_id"])

    # -- what was seen ---------------------------------------------------------------------------

    def pull_new(self, pid: str) -> list[dict]:
        """Drain the partner's pull stream from where the last read ended; every item is kept."""
        got = self.pulled.setdefault(pid, [])
        while True:
            after = self.cursors.get(pid)
            resp = requests.get(f"{self.base}/v1/partners/{pid}/items",
                                headers={"Authorization": f"Bearer {TOKENS[token_env(pid)]}"},
                                params={"limit": 500, **({"after": after} if after else {})}, timeout=10)
            assert resp.status_code == 200, f"pull {pid}: {resp.status_code} {resp.text}"
            body = resp.json()
            got += body["items"]
            self.cursors[pid] = body["next"]
            if not body["items"]:
                return got

    def feeds(self) -> dict[str, str]:
        """Every feed in every format: the public ones anonymously, the partner one with a feed key."""
        out = {}
        for name in (*PUBLIC_FEEDS, PARTNER_FEED):
            headers = {"Authorization": f"Bearer {FEED_KEY}"} if name == PARTNER_FEED else {}
            for fmt in FEED_FORMATS:
                resp = requests.get(f"{self.base}/feeds/{name}.{fmt}", headers=headers, timeout=10)
                assert resp.status_code == 200, f"feed {name}.{fmt}: {resp.status_code} {resp.text[:200]}"
                out[f"feed {name}.{fmt}"] = resp.text
        return out

    def read_anonymously(self, aid: str) -> requests.Response:
        return requests.get(f"{self.base}/v1/articles/{aid}", timeout=10)

    def pushes(self, pid: str, needle: str) -> list[str]:
        return [r.body.decode("utf-8", "replace") for r in self.receivers[pid].for_article(needle)]

    def hold_views(self, anonymous_reads: list[str] = ()) -> list[tuple[str, str]]:
        """(where, text) of everything a hold partner or anonymous reader got: every push body,
        every pull item, every feed, the ops webhook's notices and the anonymous reads of `anonymous_reads`."""
        views = []
        for pid in HOLD:
            with self.receivers[pid].lock:
                bodies = [r.body for r in self.receivers[pid].requests]
            views += [(f"push to {pid} #{n}", b.decode("utf-8", "replace")) for n, b in enumerate(bodies)]
            views += [(f"pull item of {pid} ({i['article_id']} v{i['version']} {i['type']})",
                       json.dumps(i, ensure_ascii=False)) for i in self.pull_new(pid)]
        views += list(self.feeds().items())
        with self.ops.lock:
            views += [(f"ops webhook notice #{n}", r.body.decode("utf-8", "replace"))
                      for n, r in enumerate(self.ops.requests)]
        for aid in anonymous_reads:
            resp = self.read_anonymously(aid)
            if resp.status_code != 404:  # a 404 names the id the caller sent: nothing of ours
                views.append((f"anonymous GET /v1/articles/{aid} ({resp.status_code})", resp.text))
        return views

    @staticmethod
    def leaks(views: list[tuple[str, str]], needles: list[str]) -> list[str]:
        """One line per view holding a needle, with the text around it."""
        found = []
        for where, text in views:
            for needle in needles:
                at = text.find(needle)
                if at >= 0:
                    found.append(f"{where}: holds {needle!r}: ...{text[max(0, at - 80):at + 60]!r}...")
                    break  # one line per view is enough to find it
        return found

    # -- waiting for quiet -----------------------------------------------------------------------

    def settle(self, article_ids: list[str], timeout: float = 30) -> None:
        """Return once nothing more can reach anyone about `article_ids`: a sentinel posted now has
        reached every hold partner (push and pull) and every feed, and every delivery record of
        the articles (any partner) is final."""
        event = sentinel(categories=CATEGORY)
        sid = event["article"]["id"]
        self.apply(event)
        wait_for(lambda: all(self.receivers[pid].for_article(sid) for pid in HOLD), timeout, 0.05,
                 f"sentinel {sid} pushed to every hold partner")
        wait_for(lambda: all(any(i["article_id"] == sid for i in self.pull_new(pid)) for pid in HOLD), timeout,
                 0.05, f"sentinel {sid} in every hold partner's pull stream")
        wait_for(lambda: all(sid in text for text in self.feeds().values()), timeout, 0.1,
                 f"sentinel {sid} in every feed")

        def unfinished():
            return [f"{r['partner']}:{r['article_id']} v{r['version']} {r['status']}"
                    for aid in article_ids for r in records.for_article(self.ctx, aid) if r["status"] not in FINAL]

        wait_for(lambda: not unfinished(), timeout, 0.05, f"every delivery of {article_ids} final")


def running(redis_url: str, tmp: Path):
    """Start the service (a generator: module fixtures `yield from` it; it stops everything after)."""
    receivers = {pid: Receiver.start() for pid in [*HOLD, *SEND]}
    ops = Receiver.start()
    partners = [{"id": pid, "url": receivers[pid].url, "format": fmt, "allow_private_network": True,
                 "retry": {"base_delay": 0.2, "max_delay": 0.5}, "pull": {"token_env": token_env(pid)},
                 **({"embargo": "send"} if pid in SEND else {})}
                for pid, fmt in [*HOLD.items(), *SEND.items()]]
    partners_file, feeds_file = tmp / "partners.yaml", tmp / "feeds.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": partners}))
    feeds_file.write_text(yaml.safe_dump({"feeds": [
        {"name": "all", "title": "All news", "language": "en"},
        {"name": "leak", "title": "Leak desk", "language": "en", "filters": {"categories": CATEGORY}},
        {"name": PARTNER_FEED, "title": "For partners", "language": "en", "access": "partner"}]}))
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
           "SYNDICATION_REDIS_URL": redis_url, "SYNDICATION_KEY_PREFIX": f"leak{uuid.uuid4().hex[:6]}:",
           "SYNDICATION_API_KEYS": API_KEY, "SYNDICATION_FEED_KEYS": FEED_KEY,
           "SYNDICATION_PARTNERS_FILE": str(partners_file), "SYNDICATION_FEEDS_FILE": str(feeds_file),
           "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}", "SYNDICATION_OPS_WEBHOOK_URL": ops.url,
           "FORWARDED_ALLOW_IPS": "127.0.0.1", "PYTHONUNBUFFERED": "1", **TOKENS}
    logscan.forbid_env(env)
    procs = [api(env, tmp, port), worker("events", env, tmp), worker("feeds", env, tmp, concurrency=2),
             worker("deliveries", env, tmp, concurrency=4)]
    try:
        start_all(procs)  # cold starts overlap
        yield LeakWorld(f"http://127.0.0.1:{port}", env, Context.build(load_settings(env)), receivers, ops)
    finally:
        stop_all(procs)
        for rec in [*receivers.values(), ops]:
            rec.stop()
