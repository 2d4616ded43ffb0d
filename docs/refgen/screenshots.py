"""The built site's screenshots in docs/ (site-home.png, site-reference.png), by Debian's headless Chromium.

    make docs && .venv/bin/python docs/refgen/screenshots.py

Pages are opened as files (file://): the site needs no server and no network.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.browser import chromium  # noqa: E402

SHOTS = {"site-home.png": "index.html", "site-reference.png": "reference/cli.html"}


def main(site: Path = ROOT / "build" / "docs") -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = chromium(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name, html in SHOTS.items():
            page.goto((site / html).as_uri())
            page.screenshot(path=str(ROOT / "docs" / name))
            print(f"wrote docs/{name} ({html})")
        browser.close()


if __name__ == "__main__":
    main()
