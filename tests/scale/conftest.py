"""Scale suite options: the scenarios run only with `--scale` (`make scale`); the smoke test always.

The host-loss scenarios and the throughput comparison take minutes, so a plain `pytest` (make
test) collects them and skips them with a reason; `pytest tests/scale --scale` runs them. The
smoke test (namespaces up, one event across the bridge, all torn down) runs by default. Where
network namespaces cannot be built (not root, no `ip`), every test here skips and says why.

Figures the tests measure go to `FIGURES`; the session ends by printing them as one table
(and writing docs/scale.json after a `--scale` run that passed and measured everything).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import pytest

from tests.scale.network import Network, Unavailable, unavailable_reason

HERE = Path(__file__).resolve().parent
DOCS = HERE.parents[1] / "docs" / "scale.json"
FIGURES: dict[str, dict] = {}
SCENARIOS = ("host B killed (kill -9)", "host B's link down 30 s")  # the names test_host_loss records under


def pytest_addoption(parser):
    parser.addoption("--scale", action="store_true", default=False,
                     help="run the multi-host scale scenarios in network namespaces (make scale; minutes)")


def pytest_configure(config):
    config.addinivalue_line("markers", "scale: a multi-host scale scenario (minutes): runs with --scale only")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--scale", default=False):
        return
    skip = pytest.mark.skip(reason="multi-host scale scenario (minutes): run `make scale`")
    for item in items:
        if item.get_closest_marker("scale") is not None:
            item.add_marker(skip)


@pytest.fixture
def network():
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"scale harness: {reason}")
    try:
        with Network() as net:
            yield net
    except Unavailable as exc:
        pytest.skip(f"scale harness: {exc}")


def _table() -> list[str]:
    rows = []
    scenarios = [name for name in SCENARIOS if name in FIGURES]
    if scenarios:
        rows += ["", "| scenario | events answered 2xx | deliveries expected | delivered (effective) | raw duplicates "
                 "| effective duplicates | B's leases re-driven | recovery time | B's workers back |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for name in scenarios:
            f = FIGURES[name]
            rows.append(f"| {name} | {f['events']} | {f['expected']} | {f['delivered']} | {f['raw_duplicates']} "
                        f"| {f['effective_duplicates']} | {f['redriven']} | {f['recovery_s']:.1f} s "
                        f"(bound {f['bound_s']:.0f} s) | {f['b_back']} |")
    t = FIGURES.get("throughput")
    if t:
        rows += ["", "| worker hosts | backlog (deliveries) | drained in | deliveries/s | worker hosts' CPU "
                 "| the rest | other processes (cores) |", "|---|---|---|---|---|---|---|"]
        for case in t["cases"]:
            rows.append(f"| {case['hosts']} | {case['deliveries']} | {case['seconds']:.2f} s "
                        f"| {case['rate']:.0f} | {case['cpu']} | {case['others']} | {max(0.0, case['foreign']):.2f} |")
        rows += ["", f"two worker hosts / one (mean of the A-alone runs): {t['ratio']:.2f}x, same run; "
                     f"{t['pinning']}"]
    others = [name for name in FIGURES if name not in (*SCENARIOS, "throughput")]
    if others:
        rows.append("")
    for name in others:  # figures other scale tests leave here (e.g. test_sentinel.py)
        rows.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in FIGURES[name].items()))
    return rows


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not FIGURES:
        return
    tr = terminalreporter
    tr.section("make scale: figures")
    load = os.getloadavg()
    tr.write_line(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, load average at the end "
                  f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for line in _table():
        tr.write_line(line)
    if not config.getoption("--scale", default=False):
        return
    if exitstatus != 0 or not {*SCENARIOS, "throughput"} <= set(FIGURES):
        tr.write_line(f"a failed or partial run: {DOCS.relative_to(HERE.parents[1])} left as it was")
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    DOCS.write_text(json.dumps({"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit,
                                "cpus": os.cpu_count(), "figures": FIGURES}, indent=2) + "\n")
    tr.write_line(f"written to {DOCS.relative_to(HERE.parents[1])}")
