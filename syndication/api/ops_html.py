"""The HTML of /ops, from the templates under templates/ops/ (pages.py): the page, its live
sections, and its sign-in, refusal and wait pages.

Each live section is a template of its own with a stable element id (`banner`, `partners`,
`workers`, ...). The first load serves them inside the page; `/ops/state.json` serves the same
fragments, and ops.js swaps the ones that changed in place, so the page refreshes without a
reload or a flicker. The templates escape every value (autoescape); the CSP (no inline script,
script only from us) is the second line.

Forms that change something carry the session's CSRF token; those with `data-confirm` ask
first (ops.js), and the server checks the token and the origin whatever the browser did.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from markupsafe import Markup

from syndication.api.ops_state import DISCARDABLE, FAILURE_HOURS, INCIDENT_DAYS, REPLAYABLE, in_banner
from syndication.api.pages import render, templates

REFRESH_MS = 5000  # how often ops.js refreshes the live sections (the page tells it: data-refresh-ms)
# The live sections, by element id, in page order; each is templates/ops/sections/{id with _}.html.
SECTIONS = ("clock", "note", "banner", "warnings", "detail", "article", "charts", "partners", "websub", "workers", "incidents",
            "failures", "dead-letters", "dead-events", "audit")
NO_STORE = {"Cache-Control": "no-store"}
AUDIT_COLUMNS = ("at", "action", "target", "actor")


def _troubled(p: dict) -> bool:
    return p["circuit"] != "closed" or not p["enabled"] or p["paused"] or p["consecutive_failures"] > 0


templates.env.tests["in_banner"] = in_banner
templates.env.filters.update(
    # Partners in trouble first: at 3 a.m. the one that matters is not the 17th row.
    troubled_first=lambda partners: sorted(partners, key=lambda p: not _troubled(p)),
    audit_detail=lambda a: {k: v for k, v in a.items() if k not in AUDIT_COLUMNS},
)
# Globals, not context: macros imported from another template see globals only.
templates.env.globals.update(REPLAYABLE=REPLAYABLE, DISCARDABLE=DISCARDABLE, FAILURE_HOURS=FAILURE_HOURS,
                             INCIDENT_DAYS=INCIDENT_DAYS)


def sections(data: dict[str, Any], csrf: str | None) -> dict[str, Markup]:
    """Every live section of the page, by element id, in page order."""
    return {name: render(f"ops/sections/{name.replace('-', '_')}.html", data=data, csrf=csrf)
            for name in SECTIONS}


def ops_page(request: Request, data: dict[str, Any], csrf: str | None, who: str | None):
    parts = sections(data, csrf)
    return templates.TemplateResponse(request, "ops/page.html", {
        "data": data, "csrf": csrf, "who": who, "clock": parts.pop("clock"), "sections": parts,
        "refresh_ms": REFRESH_MS}, headers=NO_STORE)


def _message(request: Request, title: str, status_code: int, template: str = "ops/message.html",
             headers: dict | None = None, **context):
    return templates.TemplateResponse(request, template, {"title": title, "back": False, **context},
                                      status_code=status_code, headers={**NO_STORE, **(headers or {})})


def login(request: Request, message: str = ""):
    return _message(request, "sign in", 401, "ops/login.html", message=message)


def forbidden(request: Request):
    return _message(request, "refused", 403, back=True, message="That form was not sent from this ops page, "
                    "or it is out of date: nothing was done.")


def too_many(request: Request, exc):
    return _message(request, "wait", 429, headers=exc.headers, message=exc.detail)
