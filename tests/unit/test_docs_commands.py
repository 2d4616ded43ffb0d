"""Every command the tutorials and how-to guides tell a reader to type still parses, names files that
exist, and every URL they fetch is a route the app serves.

This is the cheap half of "the tutorial cannot rot": a renamed command or option, a moved example
file or a removed route fails here at once. The tutorials' commands are also run end to end against
a live service (tests/integration/test_tutorials.py), as tests/integration/test_quickstart.py runs
the README's.
"""

from __future__ import annotations

import glob
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs"))

from refgen.http_api import build_app, served  # noqa: E402  (the app as the docs build builds it)

PAGES = sorted([*(ROOT / "docs" / "tutorials").glob("*.md"), *(ROOT / "docs" / "how-to").glob("*.md")])
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def shell_lines(page: Path) -> list[str]:
    """The lines of the page's ```sh blocks, and the `$ ` lines of its ```console transcripts (the
    prompt dropped, the output not), continuations joined, comments dropped."""
    lines, inside = [], None
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = line.strip()[3:] if line.strip() in ("```sh", "```console") else None
            continue
        if inside == "console":
            if not line.startswith("$ ") and not (lines and lines[-1].endswith("\\")):
                continue
            line = line.removeprefix("$ ")
        if inside:
            if lines and lines[-1].endswith("\\"):
                lines[-1] = lines[-1][:-1] + " " + line.strip()
            else:
                lines.append(line.split("  #")[0].strip())
    return [line for line in lines if line]


COMMANDS = [(page.name, line) for page in PAGES for line in shell_lines(page)]


def test_the_pages_have_commands():
    assert sum("syndication " in line for _, line in COMMANDS) >= 5


@pytest.mark.parametrize("page,line", [c for c in COMMANDS if "bin/syndication " in c[1]],
                         ids=lambda v: v if isinstance(v, str) and v.endswith(".md") else None)
def test_each_syndication_command_parses(page, line):
    from syndication.cli import parser

    words = shlex.split(line.split("|")[0])
    while words and ASSIGNMENT.match(words[0]):
        words.pop(0)
    assert words[0].endswith("bin/syndication"), (page, line)
    args = []
    for word in words[1:]:
        if any(c in word for c in "*?["):
            matched = sorted(glob.glob(str(ROOT / word)))
            assert matched, f"{page}: {word} matches no file"
            args += matched
        else:
            args.append(word)
    try:
        parser().parse_args(args)
    except SystemExit as exc:  # argparse's answer to bad arguments
        pytest.fail(f"{page}: `{line}` no longer parses (exit {exc.code})")


def test_each_url_fetched_is_a_route():
    paths = [re.sub(r"\{[^}]+\}", "[^/]+", p.replace(":path", "")) for p, *_ in served(build_app())]
    fetched = [(page, url) for page, line in COMMANDS if line.startswith("curl")
               # a URL given as a form value (`-d hub.callback=http://...`) is the reader's, not ours
               for url in re.findall(r"(?<!=)https?://[^/\s\"']+(/[^\s\"'?]*)", line)]
    assert fetched
    for page, url in fetched:
        assert any(re.fullmatch(p, url) for p in paths), f"{page}: {url} is not a route the app serves"

