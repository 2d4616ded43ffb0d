"""Issue 22, item 2 (must-show 3): one partner's long polls cannot take the API down.

An API process of this module's own (the session's Redis, key prefix and partners, plus two pull
partners) with the long-poll bounds set low enough to reach: 100 per partner, 150 in all. Then:

- 300 concurrent long polls (`wait=8`) with one partner's token: 100 wait, 200 get 429
  `too_many_long_polls` naming the per-partner bound, at once;
- 60 more from a second partner: 50 wait (the total is reached), 10 get 429 naming it;
- meanwhile a feed, `/readyz` and the second partner's plain pull are asked over and over: all
  answer 200, none 5xx, p99 under 200 ms each;
- the waiting polls hold no Redis connection: at most one client per API process is blocked in
  XREAD (the process's reader), not one per poll;
- one article for the first partner wakes its 100 waiters with it, promptly; the second partner's
  waiters (another category) wait on until their `wait` ends, empty.

Before the fix, every poll held an XREAD BLOCK on the shared pool (capped at 100): the polls past
100, the feed, /readyz and the other partner all answered 503.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import logscan
from tests.support.events import article_event
from tests.support.processes import api, free_port, wait_for
from tests.integration.test_pull_api import applied, post

# p99 bounds on the probes: with pytest-xdist, run with no other worker loading the machine.
pytestmark = [pytest.mark.integration, pytest.mark.alone]

TOKENS = {"LOAD_A_TOKEN": "load-a-pull-token-5e1d", "LOAD_B_TOKEN": "load-b-pull-token-a77c"}
logscan.forbid_env(TOKENS)
PER_PARTNER, TOTAL = 100, 150
POLLS_A, POLLS_B, WAIT = 300, 60, 8


@pytest.fixture(scope="module")
def load_api(service, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("longpoll")
    partners = yaml.safe_load(Path(service.env["SYNDICATION_PARTNERS_FILE"]).read_text())
    for pid, category, token_env in (("load-a", "LongPollA", "LOAD_A_TOKEN"),
                                     ("load-b", "LongPollB", "LOAD_B_TOKEN")):
        partners["partners"].append({"id": pid, "url": "http://127.0.0.1:9/unused", "format": "json",
                                     "filters": {"categories": [category]}, "allow_private_network": True,
                                     "pull": {"token_env": token_env}})
    partners_file = tmp / "partners.yaml"
    partners_file.write_text(yaml.safe_dump(partners, allow_unicode=True))
    port = free_port()
    env = {**service.env, **TOKENS, "SYNDICATION_PARTNERS_FILE": str(partners_file),
           "SYNDICATION_BASE_URL": f"http://127.0.0.1:{port}",
           "SYNDICATION_PULL_MAX_WAITS_PER_PARTNER": str(PER_PARTNER), "SYNDICATION_PULL_MAX_WAITS": str(TOTAL)}
    proc = api(env, tmp, port)
    proc.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


def _blocked_xreads(service) -> int:
    return sum(1 for c in service.ctx.redis.client_list() if c.get("cmd") == "xread" and "b" in c.get("flags", ""))


def test_300_long_polls_from_one_partner_leave_feeds_readyz_and_other_partners_answering(service, load_api, unique):
    auth = {pid: {"Authorization": f"Bearer {TOKENS[env]}"}
            for pid, env in (("load-a", "LOAD_A_TOKEN"), ("load-b", "LOAD_B_TOKEN"))}
    # A feed with something in it, and each partner's cursor at the end of the log.
    warm = f"longpoll-warm-{unique}"
    post(service, article_event(warm, 1, categories=["LongPollB"]))
    applied(service, warm, 1)
    wait_for(lambda: httpx.get(f"{load_api}/feeds/all.rss", timeout=5).status_code == 200, 30, what="the feed")
    ends = {}
    for pid in auth:
        resp = httpx.get(f"{load_api}/v1/partners/{pid}/items", params={"limit": 500}, headers=auth[pid], timeout=10)
        while resp.json()["items"]:
            resp = httpx.get(f"{load_api}/v1/partners/{pid}/items", params={"limit": 500, "after": resp.json()["next"]},
                             headers=auth[pid], timeout=10)
        ends[pid] = resp.json()["next"]

    target = f"longpoll-wake-{unique}"
    probes = {"feed": ("GET", f"{load_api}/feeds/all.rss", {}, None),
              "readyz": ("GET", f"{load_api}/readyz", {}, None),
              "other partner's pull": ("GET", f"{load_api}/v1/partners/load-b/items", auth["load-b"],
                                       {"after": ends["load-b"], "limit": 50})}

    async def scenario():
        latencies: dict[str, list[float]] = {name: [] for name in probes}
        statuses: dict[str, list[int]] = {name: [] for name in probes}
        stop = asyncio.Event()

        async def probe(client: httpx.AsyncClient):
            while not stop.is_set():
                for name, (method, url, headers, params) in probes.items():
                    started = time.perf_counter()
                    resp = await client.request(method, url, headers=headers, params=params)
                    latencies[name].append(time.perf_counter() - started)
                    statuses[name].append(resp.status_code)
                await asyncio.sleep(0.02)

        async def poll(client: httpx.AsyncClient, pid: str) -> tuple[httpx.Response, float]:
            started = time.monotonic()
            resp = await client.get(f"{load_api}/v1/partners/{pid}/items", headers=auth[pid],
                                    params={"after": ends[pid], "wait": WAIT, "limit": 10})
            return resp, time.monotonic()

        limits = httpx.Limits(max_connections=POLLS_A + POLLS_B + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=30) as probe_client, \
                httpx.AsyncClient(timeout=WAIT + 20, limits=limits) as poll_client:
            prober = asyncio.create_task(probe(probe_client))
            await asyncio.sleep(0.3)
            polls_a = [asyncio.create_task(poll(poll_client, "load-a")) for _ in range(POLLS_A)]
            # The refused ones answer at once; then the admitted ones are the ones left, waiting.
            deadline = time.monotonic() + 30
            while sum(t.done() for t in polls_a) < POLLS_A - PER_PARTNER and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            polls_b = [asyncio.create_task(poll(poll_client, "load-b")) for _ in range(POLLS_B)]
            while sum(t.done() for t in polls_b) < POLLS_B - (TOTAL - PER_PARTNER) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            waiting = sum(not t.done() for t in polls_a + polls_b)
            blocked = await asyncio.to_thread(_blocked_xreads, service)
            # One article for load-a: its waiters wake with it; load-b's do not.
            posted = time.monotonic()
            await asyncio.to_thread(post, service, article_event(target, 1, categories=["LongPollA"]))
            results_a = await asyncio.gather(*polls_a)
            results_b = await asyncio.gather(*polls_b)
            stop.set()
            await prober
        return latencies, statuses, waiting, blocked, posted, results_a, results_b

    latencies, statuses, waiting, blocked, posted, results_a, results_b = asyncio.run(scenario())

    seen = {**{name: Counter(codes) for name, codes in statuses.items()},
            "polls load-a": Counter(r.status_code for r, _ in results_a),
            "polls load-b": Counter(r.status_code for r, _ in results_b)}
    assert not any(code >= 500 for counts in seen.values() for code in counts), f"5xx under load: {seen}"
    assert waiting == TOTAL, f"{waiting} polls waiting, expected {TOTAL}"
    assert blocked <= 2, f"{blocked} clients blocked in XREAD: the waiting polls hold Redis connections"

    refused_a = [r for r, _ in results_a if r.status_code == 429]
    answered_a = [(r, at) for r, at in results_a if r.status_code == 200]
    assert len(refused_a) == POLLS_A - PER_PARTNER and len(answered_a) == PER_PARTNER, \
        sorted({r.status_code for r, _ in results_a})
    for r in refused_a:
        assert r.json()["error"] == "too_many_long_polls" and int(r.headers["Retry-After"]) > 0
        assert f"at most {PER_PARTNER} per partner" in r.json()["detail"]
    for r, at in answered_a:
        assert [i["article_id"] for i in r.json()["items"]] == [target]
    assert max(at for _, at in answered_a) - posted < 5, "the waiters woke late"

    refused_b = [r for r, _ in results_b if r.status_code == 429]
    answered_b = [r for r, _ in results_b if r.status_code == 200]
    assert len(refused_b) == POLLS_B - (TOTAL - PER_PARTNER) and len(answered_b) == TOTAL - PER_PARTNER
    assert all(f"at most {TOTAL} in all" in r.json()["detail"] for r in refused_b)
    assert all(r.json()["items"] == [] for r in answered_b), "an article load-b does not want ended its waits"

    report = {}
    for name in probes:
        assert set(statuses[name]) == {200}, f"{name}: {sorted(set(statuses[name]))}"
        samples = sorted(latencies[name])
        assert len(samples) >= 50, f"{name}: only {len(samples)} requests during the load"
        report[name] = (len(samples), samples[int(len(samples) * 0.99) - 1])
    print("\nlong-poll load: probes (count, p99 s):", report)
    assert all(p99 < 0.2 for _, p99 in report.values()), report
