"""The HTML of /portal, from the templates under templates/portal/ (pages.py): the page's live
sections, and its sign-in, refusal and wait pages.

Each live section is a template with a stable element id; `/portal/state.json` serves the same
fragments and ops.js (shared with /ops: the body's data-state-url says where to fetch) swaps the
ones that changed. Autoescape escapes every value; the CSP allows no inline script or style.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from markupsafe import Markup

from syndication.api.ops_html import NO_STORE
from syndication.api.pages import render, templates

# The live sections, by element id, in page order; each is templates/portal/sections/{id with _}.html.
SECTIONS = ("clock", "note", "health", "dead-letters", "detail", "deliveries", "test-push")


def sections(data: dict[str, Any], csrf: str) -> dict[str, Markup]:
    return {name: render(f"portal/sections/{name.replace('-', '_')}.html", data=data, csrf=csrf)
            for name in SECTIONS}


def message(request: Request, title: str, status_code: int, text: str, template: str = "portal/message.html",
            headers: dict | None = None):
    return templates.TemplateResponse(request, template, {"title": title, "message": text},
                                      status_code=status_code, headers={**NO_STORE, **(headers or {})})


def login(request: Request, text: str = ""):
    return message(request, "sign in", 401, text, "portal/login.html")


def forbidden(request: Request):
    return message(request, "refused", 403, "That form was not sent from your portal page, or it is out of "
                   "date: nothing was done.")


def too_many(request: Request, wait: int, detail: str):
    return message(request, "wait", 429, detail, headers={"Retry-After": str(wait)})
