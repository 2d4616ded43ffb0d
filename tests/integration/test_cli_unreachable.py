"""Every CLI command that needs Redis turns an unreachable one into one line and exit 1.

The 3 a.m. commands (`status`, `deliveries`, `partners`, `events`) are exactly the ones run when
something is wrong; a 50-line traceback there hides the one fact that matters.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import cli
from tests.support.processes import free_port

COMMANDS = [
    ["status"],
    ["deliveries", "show", "some-article"],
    ["deliveries", "list", "--partner", "wire"],
    ["deliveries", "replay", "--all"],
    ["deliveries", "discard", "--all", "--dry-run"],
    ["events", "dead"],
    ["events", "replay", "--all"],
    ["partners", "pause", "wire"],
    ["partners", "resume", "wire"],
    ["partners", "enable", "wire"],
    ["partners", "reload"],
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    partners = tmp_path_factory.mktemp("cli") / "partners.yaml"
    partners.write_text("partners:\n  - {id: wire, url: 'http://127.0.0.1:9/in', allow_private_network: true}\n")
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
            "SYNDICATION_REDIS_URL": f"redis://:secret-password@127.0.0.1:{free_port()}/0",  # nobody listens
            "SYNDICATION_PARTNERS_FILE": str(partners)}


@pytest.fixture(scope="module")
def outcomes(env) -> dict[str, cli.Outcome]:
    """Every command run once, all at the same time: each mostly waits out the client's retries
    (~2.5 s of backoff) before its error, so one after another they would mostly wait."""
    return dict(zip((" ".join(a) for a in COMMANDS), cli.run_all(env, COMMANDS, timeout=60, at_once=len(COMMANDS))))


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a))
def test_unreachable_redis_is_one_line_and_exit_1(outcomes, argv):
    out = outcomes[" ".join(argv)]
    assert not isinstance(out, str), out
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "Redis" in lines[0] and "secret-password" not in out.stderr + out.stdout


def test_a_reader_that_leaves_early_gets_no_traceback():
    out = subprocess.run(f"{sys.executable} -m syndication.cli schema | head -1", shell=True,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "{" and "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr
