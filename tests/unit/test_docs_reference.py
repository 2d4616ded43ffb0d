"""The documentation's reference pages cover everything the code has (docs/refgen/ renders them).

Each test walks the code itself (the argparse tree, the app's routes, Settings' fields, every
SYNDICATION_* name in the source, the push formats, the Redis key families), independently of the generator,
and fails on anything the rendered page has no entry for, or has an entry without a description.
The last test runs the strict Sphinx build when the `docs` extra is installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs"))

from refgen import cli, formats, http_api, redis_keys, settings  # noqa: E402


def _rows(page: str, section: str) -> dict[str, list[str]]:
    """The rows of the table under `## section`: first cell (code span stripped) -> the cells."""
    body = page.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in body.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[cells[0].strip("`")] = cells
    return rows


def _leaves(parser: argparse.ArgumentParser, path=()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _leaves(child, path + (name,))


def test_every_command_and_option_has_an_entry():
    from syndication.cli import parser

    page = cli.page()
    leaves = list(_leaves(parser()))
    assert len(leaves) > 15
    for path, command in leaves:
        heading = f"## syndication {' '.join(path)}\n"
        assert heading in page, f"no reference entry for `syndication {' '.join(path)}`"
        section = page.split(heading, 1)[1].split("\n## ", 1)[0]
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings or [action.metavar or action.dest]:
                assert f"`{option}`" in section, f"`syndication {' '.join(path)}`: {option} not in its entry"


def test_every_route_the_app_serves_has_an_entry():
    app = http_api.build_app()
    page = http_api.page()
    documented = app.openapi()["paths"]
    for path, methods, listed, _ in http_api.served(app):
        if listed:
            for method in set(methods) - {"OPTIONS"}:
                assert method.lower() in documented.get(path.replace(":path", ""), {}), (method, path)
                assert f"### {method} {path.replace(':path', '')}\n" in page, f"no entry for {method} {path}"
        else:
            assert f"`{path}`" in page, f"{path} is served but not in the reference"
    assert len(documented) > 10


def test_every_setting_and_variable_is_described():
    from syndication.settings import Settings

    page = settings.page()
    fields, variables = _rows(page, "Settings fields"), _rows(page, "Environment variables")
    for f in dataclasses.fields(Settings):
        if f.name == "source":  # the environment itself, not a setting
            continue
        assert f.name in fields, f"Settings.{f.name} has no reference entry"
        assert fields[f.name][-1] != "–", (f"Settings.{f.name} has no description: a comment above it in "
                                          "settings/model.py, or docs/refgen/settings.py FIELD_NOTES")
    in_source = set()
    for package in ("syndication", "workers"):
        for source in (ROOT / package).rglob("*.py"):
            in_source |= set(re.findall(r"\bSYNDICATION_[A-Z0-9_]+\b", source.read_text(encoding="utf-8")))
    assert len(in_source) > 20
    for name in sorted(in_source):
        assert name in variables, f"{name} is read by the code but has no reference entry"
        assert variables[name][4] != "–", (f"{name} has no description: it sets no field with one; "
                                           "add it to docs/refgen/settings.py ENV_NOTES")


def test_each_variable_names_the_field_it_sets():
    """The mapping is read from load_settings, not written by hand: spot-check it against load_settings."""
    from syndication.configuration import load_settings

    variables = _rows(settings.page(), "Environment variables")
    probes = {"SYNDICATION_RENDER_WINDOW": ("7", "render_window", 7.0),
              "SYNDICATION_PULL_MAX_WAITS": ("9", "pull_max_waits", 9),
              "SYNDICATION_DELIVERY_RETENTION": ("2h", "delivery_retention", 7200.0)}
    for name, (raw, field, value) in probes.items():
        assert getattr(load_settings({name: raw}), field) == value
        assert variables[name][3] == f"`{field}`", variables[name]
    # Reached through a helper and a local name, and also by partner_secrets: listed under the field it sets.
    assert load_settings({"SYNDICATION_OPS_WEBHOOK_URL": "https://ops.example/hook"}).ops_webhook_target
    assert variables["SYNDICATION_OPS_WEBHOOK_URL"][3] == "`ops_webhook_target`"


def test_every_redis_key_family_has_an_entry():
    from syndication.infra.keys import FAMILIES

    rows = _rows(redis_keys.page(), "Key families")
    for family in FAMILIES:
        assert f"<prefix>{family.pattern}" in rows, f"{family.pattern} has no reference entry"


def test_every_push_format_has_an_entry_with_a_sample():
    from syndication.partners.formats import PUSH_FORMATS

    page = formats.page()
    for name, fmt in PUSH_FORMATS.items():
        assert f"\n## {name}\n" in page, f"push format {name} has no reference entry"
        section = page.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        assert f"Content-Type: {fmt.media_type}" in section and "```" in section, f"{name}: no sample"


@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("sphinx", "furo", "myst_parser")),
                    reason="the docs extra is not installed (pip install -e '.[docs]', or make docs)")
def test_the_site_builds_strictly(tmp_path):
    """`make docs`' build: a warning (broken link, unknown anchor, page in no toctree) fails it."""
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(tmp_path / "html")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    for page in ("index", "reference/http-api", "reference/cli", "reference/settings", "reference/push-formats",
                 "reference/redis-keys"):
        assert (tmp_path / "html" / f"{page}.html").exists(), page
