"""The pull API on real processes: a partner pages through the change log with a cursor.

Its own API process (`pull_api`) serves partners with `pull: {token_env: ...}`: the session's
partners file plus three pull partners, on the session's Redis and key prefix, so events posted
to the session's API and applied by its workers land in the change log this process reads, and
this process can be killed and restarted without disturbing any other test. Each pull partner
filters on a category only this module uses.

- paging from the start, in apply order, in each partner's format, tombstones for withdrawals;
- `wait` long-polls until a *matching* item arrives (a non-matching one does not end the wait);
- tokens: none, another partner's, a wrong one are refused; an unknown partner, one without
  `pull` and a wrong token get the same answer (issue 22, item 6: no oracle of partner ids);
- cursors Redis would reject, or beyond the newest entry, are 422 / 410, never 500 or an empty
  page forever (issue 22, items 4 and 8); a page stops at its byte budget without skipping;
- a cursor whose following entries were trimmed is 410; a real retention trims the log, and only
  an applied version writes to it (a replay or a stale one does not);
- issue 15, item 4: a client paging with `wait` while 500 events (updates and withdrawals of
  20 articles) arrive and the API process is killed and restarted receives each version exactly
  once, in order.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
import yaml

from syndication.articles import ArticleStore
from syndication.infra.context import Context
from syndication.pipeline import changelog
from syndication.text import clean_article
from tests.support import logscan
from tests.support.events import article_event, withdrawal
from tests.support.processes import Proc, api, free_port, wait_for

pytestmark = pytest.mark.integration

TOKENS = {"PULL_NINJS_TOKEN": "pull-ninjs-token-7f3a", "PULL_ATOM_TOKEN": "pull-atom-token-91c2",
          "PULL_JSON_TOKEN": "pull-json-token-c04d"}
PULL_PARTNERS = {  # id: (format, category, token variable)
    "pull-ninjs": ("ninjs", "PullPaging", "PULL_NINJS_TOKEN"),
    "pull-atom": ("atom", "PullPaging", "PULL_ATOM_TOKEN"),
    "pull-json": ("json", "PullStream", "PULL_JSON_TOKEN"),
}
logscan.forbid_env(TOKENS)


@dataclass
class PullApi:
    url: str
    proc: Proc


@pytest.fixture(scope="module")
def pull_api(service, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pull")
    # The session's partners too, as a deployment would have one partners file everywhere.
    partners = yaml.safe_load(Path(service.env["SYNDICATION_PARTNERS_FILE"]).read_text())
    for pid, (fmt, category, token_env) in PULL_PARTNERS.items():
        partners["partners"].append({"id": pid, "url": "http://127.0.0.1:9/unused", "format": fmt,
                                     "filters": {"categories": [category]}, "allow_private_network": True,
                                     "pull": {"token_env": token_env}})
    partners_file = tmp / "partners.yaml"
    partners_file.write_text(yaml.safe_dump(partners, allow_unicode=True))
    port = free_port()
    env = {**service.env, **TOKENS, "SYNDICATION_PARTNERS_FILE": str(partners_file),
           "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}"}
    proc = api(env, tmp, port)
    proc.start()
    try:
        yield PullApi(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.stop()


def pull(api: PullApi, partner: str, token: str | None = "own", timeout: float = 40, **params):
    if token == "own":
        token = TOKENS[PULL_PARTNERS[partner][2]]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{api.url}/v1/partners/{partner}/items", params=params, headers=headers, timeout=timeout)


def drain(api: PullApi, partner: str, after: str | None = None, limit: int = 500) -> tuple[list[dict], str]:
    """Every item after `after`, page by page without waiting; and the cursor past the end."""
    items: list[dict] = []
    while True:
        resp = pull(api, partner, limit=limit, **({"after": after} if after else {}))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        items += body["items"]
        if body["next"] == after and not body["items"]:
            return items, after
        after = body["next"]


def post(service, event: dict) -> None:
    resp = requests.post(f"{service.api_url}/v1/events", data=json.dumps(event), headers=service.headers(),
                         timeout=10)
    assert resp.status_code == 202, resp.text


def applied(service, article_id: str, version: int, timeout: float = 45.0) -> None:
    wait_for(lambda: (s := ArticleStore.of(service.ctx).get(article_id)) is not None and s.version >= version,
             timeout, what=f"{article_id} v{version} applied")


def publish(service, event: dict) -> None:
    post(service, event)
    applied(service, event["article"]["id"], event["article"]["version"])


def test_paging_from_the_start_in_apply_order_in_each_format(service, pull_api, unique):
    ids = [f"pull-page-{unique}-{n}" for n in range(5)]
    expected = []
    for aid in ids:
        publish(service, article_event(aid, 1, categories=["PullPaging"]))
        expected.append((aid, 1, "published"))
    publish(service, article_event(f"pull-other-{unique}", 1, categories=["PullElsewhere"]))
    publish(service, article_event(ids[0], 2, categories=["PullPaging"]))
    expected.append((ids[0], 2, "updated"))
    publish(service, withdrawal(ids[1], 2))
    expected.append((ids[1], 2, "withdrawn"))

    # From the start of the log, two at a time: every matching version once, in apply order.
    seen, after, pages = [], None, 0
    while True:
        resp = pull(pull_api, "pull-ninjs", limit=2, **({"after": after} if after else {}))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert len(body["items"]) <= 2
        seen += body["items"]
        pages += 1
        if not body["items"]:
            assert body["next"] == after, "an empty page at the end does not move the cursor"
            break
        assert body["next"] == body["items"][-1]["cursor"]
        after = body["next"]
    assert pages >= 5
    assert [(i["article_id"], i["version"], i["type"]) for i in seen] == expected
    assert len({i["cursor"] for i in seen}) == len(seen)

    # ninjs as pushes render it: the urn, the version, a withdrawal as a canceled tombstone.
    first, gone = seen[0]["item"], seen[-1]["item"]
    assert seen[0]["content_type"] == "application/json"
    # (the id scheme of `uri` is the feeds' business, issue 22 item 5: only that it names the article)
    assert first["uri"].endswith(f":article:{ids[0]}") and first["version"] == "1"
    assert first["pubstatus"] == "usable" and first["headlines"][0]["value"] == f"Headline {ids[0]} v1"
    assert gone["uri"].endswith(f":article:{ids[1]}") and gone["pubstatus"] == "canceled"
    assert gone["ednote"] == "test withdrawal" and "bodies" not in gone

    # Another partner on the same category, in its own format (Atom: the XML as a string).
    atom, _ = drain(pull_api, "pull-atom")
    assert [(i["article_id"], i["version"]) for i in atom] == [e[:2] for e in expected]
    assert atom[0]["content_type"].startswith("application/atom+xml")
    assert f":article:{ids[0]}<" in atom[0]["item"] and atom[0]["item"].lstrip().startswith("<")

    # Asking from a cursor in the middle continues right after it.
    middle = seen[3]["cursor"]
    rest = pull(pull_api, "pull-ninjs", after=middle, limit=500).json()["items"]
    assert [i["cursor"] for i in rest] == [i["cursor"] for i in seen[4:]]


def test_bad_parameters_are_422_in_the_error_shape(pull_api):
    for params, field in (({"limit": 501}, "query.limit"), ({"limit": 0}, "query.limit"),
                          ({"wait": 31}, "query.wait"), ({"after": "not a cursor!"}, "query.after")):
        resp = pull(pull_api, "pull-ninjs", **params)
        assert resp.status_code == 422, (params, resp.text)
        body = resp.json()
        assert body["error"] == "invalid_request" and body["detail"]
        assert [p["field"] for p in body["problems"]] == [field]


def _raw_cursor(stream_id: str) -> str:
    """A cursor as a client could forge one: base64url of any text, padding stripped."""
    return base64.urlsafe_b64encode(stream_id.encode()).decode().rstrip("=")


def test_issue22_item4_cursors_redis_would_reject_are_422_naming_after(service, pull_api):
    """Texts the old `^\\d{1,20}-\\d{1,20}$` let through reached XRANGE and came back as 500."""
    for raw in ("1-0\n", f"{2**64}-0", f"0-{2**64}", f"{10**20 - 1}-0", "\u0661\u0662-0", "1-\u0663",
                "01-0", "1", "1-0-0", " 1-0"):
        resp = pull(pull_api, "pull-json", after=_raw_cursor(raw))
        assert resp.status_code == 422, (raw, resp.status_code, resp.text)
        assert [p["field"] for p in resp.json()["problems"]] == ["query.after"], raw
    for text in ("MS0w\n", "MS0w!", "MS 0w", "x" * 101):  # not base64url, or too long
        resp = pull(pull_api, "pull-json", after=text)
        assert resp.status_code == 422 and resp.json()["problems"][0]["field"] == "query.after", text
    # The largest ids Redis has are still cursors (and lie beyond the log: 410, below).
    assert pull(pull_api, "pull-json", after=_raw_cursor(f"{2**64 - 1}-{2**64 - 1}")).status_code == 410
    # A padded copy of a real cursor is the same cursor.
    _, end = drain(pull_api, "pull-json")
    assert pull(pull_api, "pull-json", after=end + "=" * (-len(end) % 4)).status_code == 200


def test_issue22_item8_a_cursor_beyond_the_newest_entry_is_410_not_an_empty_page_forever(service, pull_api,
                                                                                           unique):
    publish(service, article_event(f"pull-future-{unique}", 1, categories=["PullStream"]))
    _, end = drain(pull_api, "pull-json")
    newest = changelog.position(end)
    ms = int(newest.split("-")[0])
    for future in (f"{ms}-{int(newest.split('-')[1]) + 1}", f"{ms + 86_400_000}-0", f"{2**64 - 1}-0"):
        resp = pull(pull_api, "pull-json", after=_raw_cursor(future), wait=1)
        assert resp.status_code == 410, (future, resp.text)
        assert resp.json()["error"] == "gone" and "beyond the newest entry" in resp.json()["detail"]
    # The newest entry's own cursor is the end of the log, not beyond it: an empty page, at once.
    resp = pull(pull_api, "pull-json", after=end)
    assert resp.status_code == 200 and resp.json() == {"items": [], "next": end}


def test_issue22_item6_no_oracle_of_partner_ids(service, pull_api):
    """An unknown partner, one without `pull` and a wrong token: same status, body, header, throttling."""
    failures = service.ctx.keys.auth_failures("127.0.0.1")
    token = TOKENS["PULL_NINJS_TOKEN"]
    try:
        answers = {}
        for label, partner, tok in (("unknown", "no-such-partner", token), ("no pull", "partner-a", token),
                                    ("wrong token", "pull-json", token), ("wrong token 2", "pull-ninjs", "x" * 20)):
            before = int(service.ctx.redis.get(failures) or 0)
            resp = pull(pull_api, partner, token=tok)
            answers[label] = (resp.status_code, resp.headers.get("WWW-Authenticate"),
                              resp.json()["error"], resp.json()["detail"].replace(repr(partner), "<id>"),
                              tuple(sorted(resp.json())))
            assert int(service.ctx.redis.get(failures) or 0) == before + 1, f"{label}: not counted as a failure"
        assert len(set(answers.values())) == 1, answers
        assert answers["unknown"][:3] == (401, "Bearer", "unauthorized")
        doc = requests.get(f"{pull_api.url}/openapi.json", timeout=10).json()
        assert "404" not in doc["paths"]["/v1/partners/{partner_id}/items"]["get"]["responses"]
    finally:
        service.ctx.redis.delete(failures)


def test_issue22_item2_a_page_stops_at_its_byte_budget_and_skips_nothing(service, pull_api, unique):
    _, before = drain(pull_api, "pull-json")
    ids = [f"pull-big-{unique}-{n}" for n in range(4)]
    paragraph = "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 30 + "</p>"
    big = paragraph * (350_000 // len(paragraph))  # ~350 kB each: three fit in 1 MiB, four do not
    for aid in ids:
        post(service, article_event(aid, 1, categories=["PullStream"], body_html=big))
    for aid in ids:
        applied(service, aid, 1)
    pages, after = [], before
    while True:
        resp = pull(pull_api, "pull-json", after=after, limit=500)
        assert resp.status_code == 200
        body = resp.json()
        if not body["items"]:
            break
        pages.append((len(resp.content), [i["article_id"] for i in body["items"]]))
        after = body["next"]
        assert after == body["items"][-1]["cursor"], "next is the cursor of the last item returned"
    assert [aid for _, page in pages for aid in page] == ids, pages
    assert len(pages) >= 2 and all(size <= (1 << 20) + 4096 for size, _ in pages), pages


def test_only_the_partners_own_token_reads_its_items(service, pull_api):
    try:
        resp = pull(pull_api, "pull-ninjs", token=None)
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
        assert resp.json()["error"] == "unauthorized"
        other = pull(pull_api, "pull-ninjs", token=TOKENS["PULL_JSON_TOKEN"])
        assert other.status_code == 401, "another partner's token must not read this partner's items"
        assert pull(pull_api, "pull-ninjs", token="pull-ninjs-token-7f3b").status_code == 401
        assert pull(pull_api, "no-such-partner", token=None).status_code == 401
        assert pull(pull_api, "pull-ninjs").status_code == 200
    finally:  # our wrong tokens must not make other tests' clients wait (the throttle is per address)
        for key in service.ctx.redis.scan_iter(match=f"{service.ctx.keys.prefix}auth:failures:*"):
            service.ctx.redis.delete(key)


def _pull_in_thread(api: PullApi, partner: str, **params) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run():
        started = time.monotonic()
        out["resp"] = pull(api, partner, **params)
        out["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_wait_long_polls_until_a_matching_item_arrives(service, pull_api, unique):
    _, end = drain(pull_api, "pull-json")
    thread, out = _pull_in_thread(pull_api, "pull-json", after=end, wait=15, limit=10)
    time.sleep(0.5)  # the request is waiting by now (it returns at once only if the log has an item for it)
    assert thread.is_alive(), f"returned without waiting: {out}"
    # An entry the partner does not want must not end the wait...
    publish(service, article_event(f"pull-miss-{unique}", 1, categories=["PullElsewhere"]))
    assert thread.is_alive(), f"a non-matching entry ended the wait: {out.get('resp') and out['resp'].text}"
    # ... the one it wants does, at once.
    aid = f"pull-wait-{unique}"
    posted = time.monotonic()
    post(service, article_event(aid, 1, categories=["PullStream"]))
    thread.join(15)
    assert not thread.is_alive()
    body = out["resp"].json()
    assert out["resp"].status_code == 200, body
    assert [(i["article_id"], i["version"]) for i in body["items"]] == [(aid, 1)]
    assert body["next"] == body["items"][0]["cursor"]
    assert time.monotonic() - posted < 5, "the waiting request answered late"
    assert body["items"][0]["item"]["article"]["headline"] == f"Headline {aid} v1"
    assert body["items"][0]["item"]["type"] == "article.published"

    # Nothing arrives: the wait ends empty after about `wait` seconds, at the same cursor.
    started = time.monotonic()
    quiet = pull(pull_api, "pull-json", after=body["next"], wait=1).json()
    assert quiet == {"items": [], "next": body["next"]} and time.monotonic() - started >= 0.9


def test_item_4_every_version_once_in_order_across_an_api_restart(service, pull_api, unique):
    """500 events (20 articles x 25 versions; withdrawals at the end of some, in the middle of others
    with a republication after) while a client pages with `wait`; the API is killed and restarted once."""
    _, cursor = drain(pull_api, "pull-json")
    ids = [f"pull-flow-{unique}-{n:02d}" for n in range(20)]
    versions = 25

    def event(aid: str, n: int, v: int) -> dict:
        if (n % 3 == 0 and v == versions) or (n % 5 == 0 and v == 12):
            return withdrawal(aid, v)
        return article_event(aid, v, categories=["PullStream"])

    posted = {aid: [(v, event(aid, n, v)["type"].removeprefix("article.")) for v in range(1, versions + 1)]
              for n, aid in enumerate(ids)}
    errors: list[BaseException] = []

    def publisher(group: list[tuple[int, str]]):
        try:  # each version is posted once the one before it is applied, so none is ever stale
            for v in range(1, versions + 1):
                for n, aid in group:
                    post(service, event(aid, n, v))
                for _, aid in group:
                    applied(service, aid, v)
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)

    groups = [[(n, ids[n]) for n in range(g, 20, 4)] for g in range(4)]
    publishers = [threading.Thread(target=publisher, args=(g,), daemon=True) for g in groups]
    for t in publishers:
        t.start()

    received: list[tuple[str, int, str]] = []
    restart = {"at": None, "after": None, "publishing": None}

    def restart_api():
        restart["at"] = len(received)
        restart["publishing"] = any(t.is_alive() for t in publishers)
        pull_api.proc.kill()  # a crash, with requests in flight
        pull_api.proc.start()
        restart["after"] = len(received)

    restarter = None
    deadline = time.monotonic() + 150  # generous: a loaded CI machine applies slower
    while len(received) < 500 and time.monotonic() < deadline and not errors:
        try:
            resp = pull(pull_api, "pull-json", after=cursor, limit=50, wait=5, timeout=10)
        except requests.RequestException:
            time.sleep(0.1)  # the API is down: ask again with the same cursor
            continue
        if resp.status_code != 200:
            time.sleep(0.1)
            continue
        body = resp.json()
        received += [(i["article_id"], i["version"], i["type"]) for i in body["items"]]
        cursor = body["next"]
        if restarter is None and len(received) >= 150:
            restarter = threading.Thread(target=restart_api, daemon=True)
            restarter.start()
    for t in publishers:
        t.join(10)
    assert not errors, errors
    restarter.join(30)
    assert restart["at"] is not None and restart["publishing"], "the API was restarted while events arrived"
    assert all(not t.is_alive() for t in publishers)

    by_article: dict[str, list[tuple[int, str]]] = {aid: [] for aid in ids}
    for aid, v, kind in received:
        by_article[aid].append((v, kind))
    for aid in ids:
        assert by_article[aid] == posted[aid], f"{aid}: got {by_article[aid]}"
    assert len(received) == 500
    # Nothing more comes: the last cursor is the end.
    assert pull(pull_api, "pull-json", after=cursor, wait=0.5).json()["items"] == []


def test_a_cursor_whose_following_entries_were_trimmed_is_410(service, pull_api, unique):
    _, before = drain(pull_api, "pull-json")
    publish(service, article_event(f"pull-old-{unique}", 1, categories=["PullStream"]))
    (old,), at_old = drain(pull_api, "pull-json", after=before)
    publish(service, article_event(f"pull-new-{unique}", 1, categories=["PullStream"]))
    (new,), _ = drain(pull_api, "pull-json", after=at_old)
    # Retention passing, for real but sooner: an entry appended with a retention that keeps `new`
    # and lets everything before it go (ids are Redis milliseconds; the two are a publish apart).
    old_ms, new_ms = (int(changelog.position(i["cursor"]).split("-")[0]) for i in (old, new))
    assert new_ms - old_ms >= 2, "the two entries must lie apart in time"
    seconds, micros = service.ctx.redis.time()
    retention = (seconds * 1000 + micros // 1000 - (old_ms + new_ms) / 2) / 1000
    data = clean_article(article_event(f"pull-marker-{unique}", 1, categories=["PullElsewhere"])["article"])
    changelog.append(service.ctx.redis, service.ctx.keys, article_id=f"pull-marker-{unique}", version=1,
                     kind="published", event_id=f"marker-{unique}", data=data, now=time.time(), retention=retention)
    assert changelog.parse(service.ctx.redis.xrange(service.ctx.keys.changelog, count=1))[0].article_id == \
        new["article_id"], "the retention trimmed up to the newer entry"

    gone = pull(pull_api, "pull-json", after=before)
    assert gone.status_code == 410, gone.text
    assert gone.json()["error"] == "gone" and "retained change log" in gone.json()["detail"]
    # The cursor of the entry just before: nothing after it was lost, so it goes on.
    kept = pull(pull_api, "pull-json", after=at_old)
    assert kept.status_code == 200 and [i["article_id"] for i in kept.json()["items"]] == [new["article_id"]]
    # Without `after`: from the oldest entry kept.
    assert drain(pull_api, "pull-json")[0][0]["article_id"] == new["article_id"]


def test_the_log_has_applied_versions_only_and_a_real_retention_trims_it(service, unique):
    """Core level, on a prefix of its own (its trimming must not touch the session's log)."""
    settings = replace(service.ctx.settings, key_prefix=f"tlog{unique}:", changelog_retention=1.0)
    ctx = Context(settings=settings, redis=service.ctx.redis)
    log_key = ctx.keys.changelog
    data = clean_article(article_event("log-a", 1)["article"])

    first = ArticleStore.of(ctx).apply("log-a", 1, data, withdrawn=False, event_id="e1", now=time.time(),
                               event_type="article.published")
    assert first.outcome == "applied" and first.log_id
    assert ArticleStore.of(ctx).apply("log-a", 1, data, withdrawn=False, event_id="e1", now=time.time()).outcome == "replay"
    assert ArticleStore.of(ctx).apply("log-a", 1, data, withdrawn=False, event_id="e0", now=time.time()).outcome == "stale"
    held = ArticleStore.of(ctx).apply("log-a", 2, data, withdrawn=False, event_id="e2", now=time.time(), log=False)
    assert held.outcome == "applied" and held.log_id == ""
    assert ctx.redis.xlen(log_key) == 1, "a replay, a stale version and log=False write nothing"
    (entry,) = changelog.parse(ctx.redis.xrange(log_key))
    assert (entry.article_id, entry.version, entry.kind, entry.data) == ("log-a", 1, "published", data)

    # A release appends what the compare-and-set held back: the same entry shape.
    changelog.append(ctx.redis, ctx.keys, article_id="log-a", version=2, kind="updated", event_id="e2", data=data,
                     now=time.time(), retention=settings.changelog_retention)
    # A withdrawal's entry carries the data it takes back (filters and formats need it) and the reason.
    ArticleStore.of(ctx).apply("log-a", 3, None, withdrawn=True, event_id="e3", now=time.time(), reason="legal")
    entries = changelog.parse(ctx.redis.xrange(log_key))
    assert [(e.version, e.kind) for e in entries] == [(1, "published"), (2, "updated"), (3, "withdrawn")]
    assert entries[2].data == data and entries[2].reason == "legal"

    # One second later by Redis's clock, the next apply trims what is older than the retention.
    newest = entries[-1].stream_id
    wait_for(lambda: int(ctx.redis.time()[0]) * 1000 > int(newest.split("-")[0]) + 1100, 5,
             what="the retention to pass")
    ArticleStore.of(ctx).apply("log-b", 1, data, withdrawn=False, event_id="eb", now=time.time())
    left = changelog.parse(ctx.redis.xrange(log_key))
    assert [(e.article_id, e.version) for e in left] == [("log-b", 1)]
    trimmed = ctx.redis.get(ctx.keys.changelog_trimmed)
    assert trimmed.decode() == newest, "the newest entry trimmed is remembered"
    assert changelog.lost(first.log_id, trimmed) and not changelog.lost(newest, trimmed)
    ctx.redis.delete(log_key, ctx.keys.changelog_trimmed, ctx.keys.article("log-a"), ctx.keys.article("log-b"))
