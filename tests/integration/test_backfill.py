"""Backfill for a partner signed today, on real processes (issue 15, "what it must show" 2).

The story: 30 matching articles (two of them updated since), some that match nothing, one
withdrawn and one under an embargo still ahead are published while the partners file has no
`newcomer`; the file gains it (`partners reload`), and then:

- `partners backfill newcomer --dry-run --last 20` counts 20 and changes nothing;
- `partners backfill newcomer --last 20` sends exactly the 20 newest matching current versions,
  once each, oldest first (delivery ids as a normal push: `delivery_id(article, version, partner)`);
- the same command again, and the HTTP route, create nothing ("0 deliveries created");
- `--force --last 5` sends the 5 newest again, same ids, oldest first;
- `--since` (CLI) and `{"since": ...}` (HTTP) take what was published since;
- unknown partners, bad options and bodies get one clear line (exit 2) or the JSON error shape;
  an unreachable Redis is one line, exit 1; every run that changes something is audited.

Processes of its own (Redis, API, workers): the shared service's partners file stays as it is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
import yaml

from syndication.articles import ArticleStore
from syndication.delivery.records import delivery_id
from syndication.ops import audit
from tests.conftest import API_KEY, OPS_KEY
from tests.support.cli import run_in_one
from tests.support.events import article_event, withdrawal
from tests.support.processes import (
    ROOT, api, free_port, private_env, redis_server, start_all, stop_all, wait_for, worker)
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration
OPS = {"Authorization": f"Bearer {OPS_KEY}"}
T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
STEP = timedelta(minutes=10)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("backfill")
    receivers = {n: Receiver.start() for n in ("early", "newcomer", "latecomer")}
    redis = redis_server(tmp).start()
    port = free_port()
    partners_file = tmp / "partners.yaml"
    env = private_env(f"redis://127.0.0.1:{redis.port}/0", port, partners_file, "b",
                      SYNDICATION_API_KEYS=API_KEY, SYNDICATION_OPS_KEYS=f"olga:{OPS_KEY}")

    def write(*, signed: bool) -> None:
        partners = [{"id": "early", "url": receivers["early"].url, "format": "json", "allow_private_network": True,
                     "filters": {"categories": ["Other"]}}]
        if signed:
            partners += [
                # One push at a time: the order it receives is the order the deliveries are due.
                {"id": "newcomer", "url": receivers["newcomer"].url, "format": "json", "allow_private_network": True,
                 "filters": {"categories": ["Backfill", "BackfillLater"]}, "max_in_flight": 1},
                {"id": "latecomer", "url": receivers["latecomer"].url, "format": "json",
                 "allow_private_network": True, "filters": {"categories": ["Backfill"]}, "max_in_flight": 1},
                {"id": "dormant", "url": receivers["latecomer"].url, "format": "json", "enabled": False,
                 "allow_private_network": True, "filters": {"categories": ["Backfill"]}},
            ]
        partners_file.write_text(yaml.safe_dump({"partners": partners}))

    write(signed=False)
    procs = [api(env, tmp, port), worker("events", env, tmp), worker("feeds", env, tmp, concurrency=1),
             worker("deliveries", env, tmp)]
    try:
        start_all(procs)  # cold starts overlap
        base = f"http://127.0.0.1:{port}"
        articles = _publish_the_morning(base, env)
        write(signed=True)
        reloaded = cli(env, "partners", "reload")
        assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
        yield {"env": env, "base": base, "receivers": receivers, "articles": articles}
    finally:
        stop_all(procs)
        redis.stop()
        for r in receivers.values():
            r.stop()


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "syndication.cli", *args], env={**env, "USER": "dana"}, cwd=ROOT,
                          capture_output=True, text=True, timeout=90)


def _post(base: str, event: dict) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    resp = requests.post(f"{base}/v1/events", data=json.dumps(event), headers=headers, timeout=10)
    assert resp.status_code == 202, resp.text


def _publish_the_morning(base: str, env: dict) -> dict:
    """Publish the articles the partners will be backfilled with; return {article id: current version}
    of the 30 matching ones, oldest first, and the ids of those that must never be sent."""
    tag = uuid.uuid4().hex[:6]
    matching = [f"bf-{i:02d}-{tag}" for i in range(30)]
    events, current = [], {}
    for i, aid in enumerate(matching):
        extra = {"embargoed": _iso(T0)} if i == 26 else {}  # an embargo long past: published
        events.append(article_event(aid, published_at=T0 + i * STEP, categories=["Backfill"], **extra))
        current[aid] = 1
    for aid, version in ((matching[27], 2), (matching[29], 3)):  # updated since: the current version goes
        for v in range(2, version + 1):
            events.append(article_event(aid, v, published_at=T0 + matching.index(aid) * STEP,
                                        categories=["Backfill"]))
        current[aid] = version
    # Among the newest, none of which may be sent: other categories, a withdrawn story, and a
    # public story updated under an embargo an hour ahead (still in the article index, held).
    others = [f"bf-other-{i}-{tag}" for i in range(5)]
    events += [article_event(aid, published_at=T0 + (25 + i) * STEP + STEP / 2, categories=["Other"])
               for i, aid in enumerate(others)]
    withdrawn, held = f"bf-withdrawn-{tag}", f"bf-held-{tag}"
    events += [article_event(withdrawn, published_at=T0 + 28 * STEP + STEP / 3, categories=["Backfill"]),
               withdrawal(withdrawn, 2),
               article_event(held, published_at=T0 + 29 * STEP + STEP / 3, categories=["Backfill"]),
               article_event(held, 2, published_at=T0 + 29 * STEP + STEP / 3, categories=["Backfill"],
                             embargoed=_iso(datetime.now(timezone.utc) + timedelta(hours=1)))]
    for ev in events:
        _post(base, ev)
    from syndication.configuration import load_settings
    from syndication.infra.context import Context

    ctx = Context.build(load_settings(env))
    def applied(aid: str, version: int, withdrawn: bool = False) -> bool:
        state = ArticleStore.of(ctx).get(aid)
        return state is not None and state.version == version and state.withdrawn == withdrawn

    wait_for(lambda: all(applied(a, v) for a, v in current.items()) and applied(withdrawn, 2, True)
             and applied(held, 2) and ctx.redis.zcard(ctx.keys.events_pending) == 0, timeout=60,
             what="the morning's news applied")
    return {"current": current, "never": [*others, withdrawn, held], "ctx": ctx}


def _backfill_http(base: str, partner: str, body: dict) -> requests.Response:
    """POST a backfill once the API knows the partner (it follows the reload within seconds)."""
    def answer():
        resp = requests.post(f"{base}/v1/partners/{partner}/backfill", json=body, headers=OPS, timeout=30)
        return [resp] if resp.status_code != 404 else None  # a list: a 4xx Response is falsy

    return wait_for(answer, timeout=15, interval=0.2, what=f"the API knows {partner}")[0]


def _ids(partner: str, current: dict, aids: list[str]) -> list[str]:
    return [delivery_id(a, current[a], partner) for a in aids]


def _received(receiver: Receiver) -> list[str]:
    return [r.webhook_id for r in receiver.requests]


def _history(ctx, partner: str) -> list[dict]:
    from syndication.delivery import records

    return sorted(records.for_partner(ctx, partner, limit=1000), key=lambda r: r["created_at"])


def test_a_new_partner_gets_the_20_newest_matching_once_each_oldest_first(cluster):
    env, base, ctx = cluster["env"], cluster["base"], cluster["articles"]["ctx"]
    current, newcomer = cluster["articles"]["current"], cluster["receivers"]["newcomer"]
    matching = list(current)
    want = _ids("newcomer", current, matching[10:])

    trail = len(audit.recent(ctx, 1000))
    dry = cli(env, "partners", "backfill", "newcomer", "--last", "20", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert dry.stdout.strip() == ("dry run: newcomer: 20 matched, would create 20, 0 already there; "
                                  "nothing changed"), dry.stdout
    assert _history(ctx, "newcomer") == [] and len(audit.recent(ctx, 1000)) == trail

    out = cli(env, "partners", "backfill", "newcomer", "--last", "20")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "newcomer: 20 matched, 20 deliveries created, 0 already there", out.stdout
    assert "backfilling newcomer: 20/20" in out.stderr  # progress, plain (not a terminal)
    wait_for(lambda: len(newcomer.requests) >= 20, timeout=30, what="20 pushes to newcomer")
    # Created oldest first, and (one push at a time) received in that order.
    assert [r["id"] for r in _history(ctx, "newcomer")] == want
    assert _received(newcomer) == want
    assert [json.loads(r.body)["article"]["id"] for r in newcomer.requests] == matching[10:]
    record = audit.recent(ctx, 1)[0]
    assert len(audit.recent(ctx, 1000)) == trail + 1
    assert (record["action"], record["target"], record["actor"], record["created"], record["matched"]) == \
        ("backfill", "partner newcomer", "cli:dana", 20, 20)

    again = cli(env, "partners", "backfill", "newcomer", "--last", "20")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.strip() == "newcomer: 20 matched, 0 deliveries created, 20 already there", again.stdout
    resp = _backfill_http(base, "newcomer", {"last": 20})
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"partner": "newcomer", "matched": 20, "created": 0, "skipped": 20, "forced": 0}
    assert audit.recent(ctx, 1)[0]["actor"] == "olga"

    # A story published now reaches newcomer the normal way; one push at a time, in due order, so
    # once it has arrived anything the repeated backfills had created would have arrived before it.
    fresh = f"bf-fresh-{uuid.uuid4().hex[:6]}"
    _post(base, article_event(fresh, categories=["BackfillLater"]))
    wait_for(lambda: delivery_id(fresh, 1, "newcomer") in _received(newcomer), timeout=30, what="the fresh story")
    assert _received(newcomer) == [*want, delivery_id(fresh, 1, "newcomer")]

    # --force: the 5 newest again (the fresh story among them), same ids, oldest first.
    wait_for(lambda: all(r["status"] == "delivered" for r in _history(ctx, "newcomer")), timeout=30,
             what="every newcomer delivery recorded as delivered")
    forced = cli(env, "partners", "backfill", "newcomer", "--last", "5", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert forced.stdout.strip() == ("newcomer: 5 matched, 0 deliveries created, 5 already there "
                                     "(5 made due again, same delivery ids)"), forced.stdout
    again_ids = [*want[-4:], delivery_id(fresh, 1, "newcomer")]
    wait_for(lambda: len(newcomer.requests) >= 26, timeout=30, what="5 forced pushes")
    assert _received(newcomer)[21:] == again_ids


def test_since_by_cli_and_http(cluster):
    env, base, ctx = cluster["env"], cluster["base"], cluster["articles"]["ctx"]
    current, latecomer = cluster["articles"]["current"], cluster["receivers"]["latecomer"]
    matching = list(current)

    since = _iso(T0 + 25 * STEP - timedelta(seconds=1))  # m25..m29 were published since
    resp = _backfill_http(base, "latecomer", {"since": since})
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"partner": "latecomer", "matched": 5, "created": 5, "skipped": 0, "forced": 0}
    first = _ids("latecomer", current, matching[25:])
    wait_for(lambda: len(latecomer.requests) >= 5, timeout=30, what="5 pushes to latecomer")
    assert _received(latecomer) == first

    # Relative times count back from now: 1 day + 1 h reaches every matching article (the oldest
    # was published a day ago); the 5 it already has are not sent again.
    out = cli(env, "partners", "backfill", "latecomer", "--since", "25h")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "latecomer: 30 matched, 25 deliveries created, 5 already there", out.stdout
    wait_for(lambda: len(latecomer.requests) >= 30, timeout=30, what="30 pushes to latecomer")
    assert _received(latecomer) == first + _ids("latecomer", current, matching[:25])
    never = cluster["articles"]["never"]
    assert not {json.loads(r.body)["article"]["id"] for r in latecomer.requests} & set(never)


def test_bad_input_is_one_line_or_the_json_error_shape(cluster, tmp_path):
    env, base = cluster["env"], cluster["base"]
    refused = [
        (["nobody", "--last", "5"], "no partner 'nobody'"),
        (["dormant", "--last", "5"], "partner 'dormant' is disabled"),
        (["newcomer"], "give --last N or --since TIME"),
        (["newcomer", "--last", "5", "--since", "2h"], "give --last N or --since TIME"),
        (["newcomer", "--last", "0"], "--last must be between 1 and 10000"),
        (["newcomer", "--since", "yesterday"], "cannot read time 'yesterday'"),
    ]
    # All six through the CLI's main in one interpreter (tests/support/cli.py): a process apiece
    # would mostly be Python's start-up and the CLI's imports, six times.
    outs = run_in_one({**env, "USER": "dana"}, [["partners", "backfill", *args] for args, _ in refused], tmp_path)
    for (args, message), out in zip(refused, outs):
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, (args, out.stderr)
        assert out.stdout == ""
    down = cli({**env, "SYNDICATION_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
               "partners", "backfill", "newcomer", "--last", "5")
    assert down.returncode == 1 and len(down.stderr.strip().splitlines()) == 1, down.stderr
    assert "Traceback" not in down.stderr and "Redis" in down.stderr, down.stderr

    url = f"{base}/v1/partners/newcomer/backfill"
    assert requests.post(url, json={"last": 5}, timeout=10).status_code == 401
    missing = requests.post(f"{base}/v1/partners/nobody/backfill", json={"last": 5}, headers=OPS, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found", missing.text
    disabled = _backfill_http(base, "dormant", {"last": 5})
    assert disabled.status_code == 409 and disabled.json()["error"] == "partner_disabled", disabled.text
    for body in ({}, {"last": 5, "since": "2h"}, {"last": 0}, {"last": 10001}, {"since": "yesterday"},
                 {"since": "2026-05-01T06:00:00"}, {"last": 5, "lasst": 1}, {"last": 5, "since": None}):
        resp = requests.post(url, json=body, headers=OPS, timeout=10)
        assert resp.status_code == 422, (body, resp.text)
        doc = resp.json()
        assert doc["error"] == "invalid_request" and doc["detail"] and doc["problems"], (body, doc)
    garbled = requests.post(url, data=b"{last: 5", headers={**OPS, "Content-Type": "application/json"}, timeout=10)
    assert garbled.status_code in (400, 422) and garbled.json()["error"] in ("bad_request", "invalid_request")
