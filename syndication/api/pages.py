"""The server-rendered pages: one Jinja2 environment over templates/, and static/ served at /static.

    templates/base.html        the shell of every page (/ops now, the partner portal next)
    templates/macros.html      a time, a table, a confirmed form button
    templates/charts.html      the sparklines, queue ages over the hour and incident timeline, as inline SVG (svg.py)
    templates/ops/...          /ops: its page, its live sections, its sign-in and refusal pages
    static/pages.css, ops.js   the style and the scripts, files served by us (no build step, no CDN)

Autoescape is on for every template, so every value from Redis, a partner or a publisher is
escaped where it is written; StrictUndefined makes a misspelt name an error, not an empty cell.
The pages have no inline script, style or event handler: their Content-Security-Policy
(ops_guard.SECURITY_HEADERS) allows scripts and styles from /static only.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import jinja2
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup
from starlette.templating import Jinja2Templates

from syndication.api import svg
from syndication.ops import queue_ages, sparklines, status

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
STATIC_URL = "/static"


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(float(ts), timezone.utc)


@jinja2.pass_context
def static_path(context, name: str) -> str:
    """The path of a static file, under the app's root path (a page behind a proxy prefix still finds it)."""
    return context["request"].url_for("static", path=name).path


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(
        # One path segment: an id with a '/' or '?' in it stays one segment of /ops/replay/{id}.
        segment=lambda value: quote(str(value), safe=""),
        path_quote=lambda value: quote(str(value)),  # for `{id:path}` routes: '/' may stay
        iso_time=lambda ts: _utc(ts).isoformat(timespec="seconds"),
        utc_time=lambda ts: f"{_utc(ts):%Y-%m-%d %H:%M:%S}",
        human_age=status.human_age,
        as_json=lambda value: json.dumps(value, default=str),
    )
    env.globals["static_path"] = static_path
    env.globals.update(svg=svg, sparklines=sparklines, queue_ages=queue_ages)  # the charts of templates/charts.html
    return env


templates = Jinja2Templates(env=_environment())


def render(name: str, **context) -> Markup:
    """A template rendered to a fragment of HTML (safe to put into another template as is)."""
    return Markup(templates.get_template(name).render(**context))


def install(app: FastAPI) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
