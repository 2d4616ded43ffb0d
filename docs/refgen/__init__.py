"""The reference pages, generated from the code on every docs build (never pasted).

    write_all(Path("docs/reference"))   # docs/conf.py calls it when Sphinx starts

Each module renders one page from the object that defines it, so the reference cannot drift:

    http_api.py    reference/http-api.md    the OpenAPI document the app serves (create_app(...).openapi())
    cli.py         reference/cli.md         the argparse tree (syndication.cli.parser())
    settings.py    reference/settings.md    Settings' fields and every SYNDICATION_* variable the code reads
    formats.py     reference/push-formats.md  every push format, with a sample it rendered
    redis_keys.py  reference/redis-keys.md  infra/keys.py's FAMILIES table
    markdown.py    the table and escaping helpers they share
"""

from __future__ import annotations

from pathlib import Path

from importlib import import_module

PAGES = {"http-api.md": "http_api", "cli.md": "cli", "settings.md": "settings", "push-formats.md": "formats",
         "redis-keys.md": "redis_keys"}


def write_all(out: Path) -> list[Path]:
    """Render every page into `out`; a file is rewritten only when its text changed, so Sphinx's
    incremental build re-reads only what the code changed."""
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for name, module in PAGES.items():
        path, text = out / name, import_module(f"refgen.{module}").page()
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
