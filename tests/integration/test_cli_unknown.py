"""`deliveries show` / `deliveries list` for an id that does not exist: a clear line and exit 1,
not an empty table and exit 0 (a typo at 3 a.m. must not read as "nothing went wrong")."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def cli(env: dict, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "syndication.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=60)


def test_an_unknown_article_or_partner_is_one_line_and_exit_1(service, unique):
    out = cli(service.env, "deliveries", "show", f"nosuch-{unique}")
    assert out.returncode == 1 and out.stdout == "", (out.stdout, out.stderr)
    assert out.stderr.strip() == f"no article 'nosuch-{unique}' (never published here, or a typo)"

    out = cli(service.env, "deliveries", "list", "--partner", f"nosuch-{unique}")
    assert out.returncode == 1 and out.stdout == "", (out.stdout, out.stderr)
    [line] = out.stderr.strip().splitlines()
    assert line.startswith(f"no partner 'nosuch-{unique}': not configured (partners: partner-a, ") and "typo" not in line

    # A configured partner with nothing on record is an answer, not an error.
    quiet = cli(service.env, "deliveries", "list", "--partner", "hanging", "--state", "discarded", "--json")
    assert quiet.returncode == 0 and quiet.stdout.strip() == "[]", quiet.stderr
