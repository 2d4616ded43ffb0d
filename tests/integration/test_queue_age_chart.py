"""The queue-age chart of /ops and the portal is the last hour, and its numbers are what was measured.

A service of this module's own (API, events and deliveries workers: their housekeeping samples the
queues) with one partner, paused so its deliveries wait. Each sample of its queue says the age of
its oldest waiting delivery: the sample's time less that delivery's `created_at` (from its record),
and how many wait; the /ops chart's point for a minute is the worst age sampled in it, and the
portal draws the partner the same hour.
"""

from __future__ import annotations

import re
import uuid

import pytest
import requests
import yaml

from syndication.configuration import load_settings
from syndication.delivery import records
from syndication.infra.context import Context
from syndication.ops import queue_ages
from tests.support.events import article_event
from tests.support.processes import api, free_port, private_env, running, wait_for, worker
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration
PUBLISHER, OPS_KEY, PORTAL = (f"qa-{what}-{uuid.uuid4().hex[:8]}" for what in ("publisher", "ops", "portal"))


@pytest.fixture(scope="module")
def held(redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("queue-age")
    partner = Receiver.start()
    partners_file = tmp / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": [
        {"id": "held", "url": partner.url, "format": "json", "allow_private_network": True,
         "filters": {"categories": ["Held"]}, "portal": {"token_env": "HELD_PORTAL"}}]}))
    port = free_port()
    env = private_env(redis_url, port, partners_file, "qa", SYNDICATION_API_KEYS=PUBLISHER,
                      SYNDICATION_OPS_KEYS=OPS_KEY, HELD_PORTAL=PORTAL)
    ctx = Context.build(load_settings(env))
    ctx.redis.set(ctx.keys.partner_paused("held"), 1)  # its deliveries wait from the start
    procs = [api(env, tmp, port), worker("events", env, tmp), worker("deliveries", env, tmp)]
    with running(procs, receivers=[partner]):
        yield f"http://127.0.0.1:{port}", ctx


def chart_values(html: str, partner: str) -> list[str]:
    block = re.search(rf'<div class=partner-hour data-partner="{re.escape(partner)}">(.*?)</div>', html, re.S)
    assert block, f"no queue-age line for {partner}"
    return re.search(r'data-series="queue-age" data-values="([^"]*)"', block.group(1)).group(1).split(",")


def test_the_queue_age_chart_draws_the_measured_ages_of_the_last_hour(held):
    url, ctx = held
    aids = [f"qa-{i}-{uuid.uuid4().hex[:6]}" for i in range(2)]
    for aid in aids:  # two waiting: the chart must follow the older one
        resp = requests.post(f"{url}/v1/events", json=article_event(aid, categories=["Held"]), timeout=10,
                             headers={"Authorization": f"Bearer {PUBLISHER}"})
        assert resp.status_code == 202, resp.text
    created = [wait_for(lambda aid=aid: records.for_article(ctx, aid), what=f"{aid}'s delivery")[0]["created_at"]
               for aid in aids]
    oldest = min(created)

    def measured() -> list[dict]:
        """The samples taken since both deliveries waited, once one is at least 2 s old."""
        found = [s for s in queue_ages.samples(ctx, ctx.redis.time()[0] + 1) if s["at"] >= max(created)]
        return found if found and found[-1]["partners"].get("held", [0])[0] >= 2 else []
    taken = wait_for(measured, timeout=30, interval=0.2, what="a sample of held's queue at least 2 s old")
    for s in taken:
        age, waiting = s["partners"]["held"]
        assert waiting == 2 and age == pytest.approx(s["at"] - oldest, abs=0.01), (s, oldest)

    resp = requests.get(f"{url}/ops/state.json", headers={"Authorization": f"Bearer {OPS_KEY}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    hour = body["queue_ages"]["held"]
    ops_values = chart_values(body["sections"]["charts"], "held")
    assert len(ops_values) == 60 and ops_values == ["" if a is None else str(a) for a in hour["ages"]]
    # Each minute's point is the worst measured age among that minute's samples.
    for s in taken:
        i = min(59, int((s["at"] - hour["start"]) // 60))
        in_minute = [t["partners"]["held"][0] for t in queue_ages.samples(ctx, hour["end"])
                     if hour["start"] + i * 60 < t["at"] <= hour["start"] + (i + 1) * 60 and "held" in t["partners"]]
        assert float(ops_values[i]) == max(in_minute) >= s["partners"]["held"][0]
    assert ops_values[0] == ""  # an hour ago nothing was sampled: a gap, not a 0

    s = requests.Session()
    assert s.post(f"{url}/portal/login", data={"token": PORTAL}, allow_redirects=False, timeout=5).status_code == 303
    portal = s.get(f"{url}/portal/state.json", timeout=10).json()
    mine = portal["health"]["queue_age_hour"]["held"]
    assert [a for a in mine["ages"] if a is not None][:len(taken)] == \
        [a for a in hour["ages"] if a is not None][:len(taken)]
    assert chart_values(portal["sections"]["health"], "held")[-1] != ""
