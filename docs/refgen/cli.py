"""reference/cli.md: every `syndication` command and option, walked from `syndication.cli.parser()`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

from refgen.markdown import banner, code, table


def commands(parser: argparse.ArgumentParser | None = None, path: tuple[str, ...] = (),
             help_text: str = "") -> Iterator[tuple[tuple[str, ...], str, argparse.ArgumentParser]]:
    """(path, help, parser) for every command that runs something (a leaf of the tree), in --help order."""
    if parser is None:
        from syndication.cli import parser as build

        parser = build()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, help_text, parser
        return
    helps = {c.dest: c.help or "" for c in subs[0]._choices_actions}
    for name, child in subs[0].choices.items():
        yield from commands(child, path + (name,), helps.get(name, ""))


def _argument(action: argparse.Action) -> list[object]:
    name = ", ".join(code(o) for o in action.option_strings) or code(action.metavar or action.dest)
    if action.choices:
        takes = " \\| ".join(code(c) for c in action.choices)
    elif action.nargs == 0:
        takes = "flag"
    else:
        takes = code(action.metavar or action.dest.upper()) + (" …" if action.nargs in ("*", "+") else "")
        takes += " (optional)" if action.nargs == "?" else ""
    default = action.default
    shown = "" if default in (None, False, argparse.SUPPRESS) or not action.option_strings else code(default)
    required = "yes" if action.required or (not action.option_strings and action.nargs not in ("*", "?")) else ""
    return [name, takes, required, shown, action.help or ""]


def _section(path: tuple[str, ...], help_text: str, parser: argparse.ArgumentParser) -> str:
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    out = [f"## syndication {' '.join(path)}", ""]
    text = parser.description if parser.description and parser.description.startswith(help_text) else help_text
    if text:
        out += [text[0].upper() + text[1:] + ("" if text.endswith(".") else "."), ""]
    if parser.description and not parser.description.startswith(help_text):
        out += [parser.description, ""]
    out += ["```text", parser.format_usage().strip(), "```", ""]
    if actions:
        out += [table(["Argument", "Takes", "Required", "Default", "What it does"], [_argument(a) for a in actions])]
    return "\n".join(out)


def page() -> str:
    from syndication.cli import parser as build

    os.environ.setdefault("COLUMNS", "100")  # argparse wraps usage at the terminal's width: fix it
    root = build()
    found = list(commands(root))
    index = table(["Command", "What it does"],
                  [[f"[{code('syndication ' + ' '.join(p))}](#{_anchor(p)})", h] for p, h, _ in found])
    return "\n".join([
        "# Command line", "", banner("cli", "the parser in `syndication/cli/commands.py`"),
        f"{root.description} Exit codes: 0 ok, 1 failure (service unreachable, ...), 2 bad input "
        "(invalid event file, invalid configuration, bad arguments). Every command reads its settings "
        "from the environment ([Settings](settings.md)).", "",
        index, *(_section(p, h, parser) for p, h, parser in found),
    ])


def _anchor(path: tuple[str, ...]) -> str:
    """MyST's heading slug (GitHub's rule) of `## syndication <path>`."""
    return "-".join(("syndication",) + path).lower()
