"""The README's quickstart, as a newcomer runs it on a fresh clone (issue 16, "must show" 1).

`make run` (which is `syndication up`) with no SYNDICATION_* at all and a fresh data dir, in a
private network namespace so the Redis it uses is the one it starts; then, in a second
terminal, the README's exact publish command. With no partners file, `up` runs the demo:
config/partners.local.yaml's partner `demo` pushes ninjs, signed with Standard Webhooks, to the
demo receiver `up` starts, which verifies each push (the standardwebhooks library) and prints
one line. So the first publish shows signed pushes arriving, and `deliveries show` lists them.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import requests

from syndication.cli import demo
from tests.integration.test_promises_up import BASE, NSENTER, UNSHARE, host_env, up_in_namespace
from tests.support.processes import ROOT, wait_for

pytestmark = pytest.mark.integration
README = (ROOT / "README.md").read_text()
EXAMPLES = sorted((ROOT / "examples" / "events").glob("*.json"))
# `make run`, without reinstalling the venv the tests run from (-o: take the stamp as up to date).
MAKE_RUN = ["make", "--no-print-directory", "-o", ".venv/.installed", "run"]


def readme_command(starting: str) -> str:
    """The README line (in a sh block) that starts with `starting`: the test runs what it says."""
    found = [line.split("  #")[0].strip() for line in README.splitlines() if line.startswith(starting)]
    assert found, f"the README no longer has a command starting {starting!r}"
    return found[0]


def shell_in(pid: int, command: str, env: dict) -> subprocess.CompletedProcess:
    """A second terminal: `command` through sh at the checkout's root, in up's network namespace."""
    return subprocess.run([NSENTER, "-t", str(pid), "-n", "--", "sh", "-c", command], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def article_ids() -> set[str]:
    return {json.loads(p.read_text())["article"]["id"] for p in EXAMPLES}


def receiver_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if re.search(r"\breceiver\s*\|.* v\d", line)]


def test_make_run_then_the_readme_publish_shows_signed_pushes_at_the_demo_receiver_and_reset_starts_over(tmp_path):
    assert "make run" in README and readme_command("make run").startswith("make run")
    publish = readme_command(".venv/bin/syndication publish")
    assert publish == ".venv/bin/syndication publish examples/events/*.json", publish
    show = readme_command(".venv/bin/syndication deliveries show example-")
    reset = readme_command(".venv/bin/syndication reset")
    env = host_env(SYNDICATION_DATA_DIR=str(tmp_path / "data"))  # a fresh .data, no SYNDICATION_* at all
    argv = [UNSHARE, "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *MAKE_RUN]
    with up_in_namespace("make-run", argv, env, tmp_path) as (up, ns):
        said = up.log.read_text()
        assert "started redis-server on 127.0.0.1:6379" in said, said
        # up names the local keys it made up, and they work.
        for key in ("local-dev-key", demo.LOCAL_OPS_KEY, demo.LOCAL_FEED_KEY):
            assert key in said, f"up does not tell the newcomer the key {key!r}:\n{said}"
        first = shell_in(up.p.pid, publish, host_env())
        assert first.returncode == 0, first.stdout + first.stderr
        assert first.stdout.count("202 accepted") == len(EXAMPLES), first.stdout

        # Every example article reaches the demo receiver, signed, and verified there.
        def pushed() -> set[str]:
            return {aid for aid in article_ids() for line in receiver_lines(up.log)
                    if f" {aid} v" in line and "signature ok" in line and "new" in line}
        wait_for(lambda: pushed() == article_ids(), timeout=60, what="a signed push of every example article")
        lines = receiver_lines(up.log)
        assert lines and all("ninjs" in line and "signature ok" in line for line in lines), "\n".join(lines)
        # The withdrawal of the Astana LRT story (version 3) reaches the partner too.
        wait_for(lambda: any(" example-2026-11-20-astana-lrt v3 " in line for line in receiver_lines(up.log)),
                 timeout=30, what="the withdrawal pushed")

        # Publishing the same files again: repeated event_ids are deduplicated, nothing new is pushed.
        again = shell_in(up.p.pid, publish, host_env())
        assert again.returncode == 0 and again.stdout.count("200 already accepted") == len(EXAMPLES), again.stdout

        # `deliveries show` (README, "A five-minute tour") lists the push to `demo`, delivered.
        aid = show.rpartition(" ")[2]
        # (COLUMNS: a terminal wide enough for the table; at 80 columns rich cuts every cell short.)
        shown = shell_in(up.p.pid, show, host_env(COLUMNS="160"))
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "demo" in shown.stdout and "delivered" in shown.stdout, shown.stdout

        # The ops key up printed reads the same through the API; the feed key opens a partner feed.
        ops = {"Authorization": f"Bearer {demo.LOCAL_OPS_KEY}"}
        listed = ns(lambda: requests.get(f"{BASE}/v1/deliveries", params={"article_id": aid}, headers=ops,
                                         timeout=5))
        assert listed.status_code == 200, listed.text
        assert [(d["partner"], d["status"]) for d in listed.json()["deliveries"]] == [("demo", "delivered")]
        # A fresh local run is healthy by the service's own check (its Redis has a ceiling, no eviction).
        check = shell_in(up.p.pid, ".venv/bin/syndication status --check", host_env())
        assert check.returncode == 0 and check.stdout.startswith("OK"), check.stdout + check.stderr
        feed = f"{BASE}/feeds/partners-full.rss"  # the README's example of a partner feed
        assert ns(lambda: requests.get(feed, timeout=5).status_code) == 401
        opened = ns(lambda: requests.get(feed, headers={"Authorization": f"Bearer {demo.LOCAL_FEED_KEY}"},
                                         timeout=5))
        assert opened.status_code == 200, opened.text

        # Start over (README): `syndication reset` with make run going, answered "y"...
        wiped = shell_in(up.p.pid, f"echo y | {reset}", host_env())
        assert wiped.returncode == 0 and "deleted" in wiped.stdout, wiped.stdout + wiped.stderr
        assert "redis://127.0.0.1:6379/0" in wiped.stdout and "prefix: synd:" in wiped.stdout, wiped.stdout

    # ... then make run again, on the same data dir (its Redis reloads what the reset left):
    # the examples are new again, and pushed again.
    with up_in_namespace("make-run-again", argv, env, tmp_path) as (up, ns):
        said = up.log.read_text()
        assert "started redis-server" in said, said
        republished = shell_in(up.p.pid, publish, host_env())
        assert republished.stdout.count("202 accepted") == len(EXAMPLES), republished.stdout + republished.stderr
        wait_for(lambda: {aid for aid in article_ids() for line in receiver_lines(up.log)
                          if f" {aid} v" in line and "signature ok  new" in line} == article_ids(),
                 timeout=60, what="every example article pushed again after the reset")
