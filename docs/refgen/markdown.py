"""Markdown pieces the generated pages share: tables whose cells survive any text, and code spans."""

from __future__ import annotations

GENERATED = ("```{note}\nThis page is generated from the code by `docs/refgen/{module}.py` on every "
             "`make docs`; edit {source}, not this page.\n```\n")


def banner(module: str, source: str) -> str:
    return GENERATED.replace("{module}", module).replace("{source}", source)


def cell(value: object) -> str:
    """One table cell: one line, pipes escaped, empty shown as a dash."""
    text = " ".join(str(value if value is not None else "").split())
    return text.replace("|", "\\|") if text else "–"


def code(value: object) -> str:
    """An inline code span that survives backticks inside the value."""
    text = str(value)
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
