"""The scale harness works here: hosts on a bridge, one event from the API host to a partner, all torn down.

Runs by default (about 10 s): Redis, the API and worker host A, each in its own network
namespace, one event posted to the API's bridge address and pushed to a partner on the bridge;
then nothing of the run is left (namespaces, the outside world's link).
"""

from __future__ import annotations

import json

from tests.faults.harness import Timing
from tests.scale.cluster import NetCluster, scenario_partners
from tests.scale.network import _netns_list, ip
from tests.support.events import article_event
from tests.support.processes import wait_for
from tests.support.receiver import Receiver


def test_one_event_crosses_the_bridge_and_everything_is_torn_down(network, tmp_path, unique):
    receivers = {pid: Receiver.start(network.outside) for pid in ("a", "b")}
    with NetCluster(tmp_path, network, scenario_partners(receivers), receivers, start_b=False) as c:
        # Every process is inside its host's namespace and talks to bridge addresses only.
        assert c.env["SYNDICATION_REDIS_URL"].startswith(f"redis://{network.subnet}.1:")
        assert all(r.url.startswith(f"http://{network.outside}:") for r in receivers.values())
        r = c.post(article_event(f"scale-{unique}"))
        assert r.status_code == 202, r.text
        wait_for(lambda: receivers["a"].for_article(f"scale-{unique}"), 30, 0.1, "the push to partner a")
        push = receivers["a"].for_article(f"scale-{unique}")[0]
        assert json.loads(push.body)["article"]["id"] == f"scale-{unique}"
        assert c.host_online("a", since=0)
        assert Timing.LEASE == Timing.CONNECT + Timing.READ + 10
    names = list(network.hosts) + ["switch"]
    network.close()
    left = [ns for ns in _netns_list() if ns.startswith(network.stem)]
    assert not left, f"namespaces left behind: {left} ({names})"
    assert ip("link", "show", network.uplink, check=False).returncode != 0, "the uplink was left behind"
