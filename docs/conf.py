"""The documentation site: Sphinx with the Furo theme, pages in Markdown (MyST).

`make docs` builds it strictly (-W: a warning, such as a broken link or a page outside every
toctree, fails the build) into build/docs. The reference pages under reference/ are generated
from the code when the build starts (refgen/, see its docstring); they are not in git.
Everything it needs is installed by the `docs` extra: no network at build time (no
intersphinx, no CDN assets).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # refgen/, and the checkout's `syndication` package

from syndication import __version__  # noqa: E402

project = "syndication"
author = "syndication maintainers"
copyright = "the syndication maintainers"
release = version = __version__
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["refgen/**", "_build", "**/README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # `[x](page.md#a-heading)` links are checked against the headings
suppress_warnings: list[str] = []
html_theme = "furo"
html_title = "syndication"
html_static_path: list[str] = []
html_last_updated_fmt = None
html_copy_source = False


def _generate_reference(app) -> None:
    from refgen import write_all

    write_all(HERE / "reference")


def setup(app):
    app.connect("builder-inited", _generate_reference)
    return {"parallel_read_safe": True}
