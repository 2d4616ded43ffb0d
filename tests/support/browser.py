"""Debian's headless Chromium for the /ops browser tests (never a browser download).

    with sync_playwright() as pw:
        browser = chromium(pw)
"""

from __future__ import annotations

import shutil

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium(pw):
    """Launch the machine's chromium through playwright; a missing one fails the test, saying how to get it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian chromium is needed for the /ops browser test (apt-get install -y chromium)"
    return pw.chromium.launch(executable_path=path, args=ARGS)
