"""/portal: a partner's own page: its endpoint's health, its deliveries, its dead letters, test pushes, signing.

    GET  /portal                 the page (server-rendered; ops.js refreshes its live sections)
    GET  /portal/state.json      the same data as JSON, and the live sections as HTML fragments
    POST /portal/login, /logout  the partner's session (portal_guard.py, session.py)
    POST /portal/replay/{id}, /portal/replay-dead-letters, /portal/test-push   (portal_actions.py)

`?article=ID` lists the partner's deliveries of that article, `?since=&until=` (ISO 8601, UTC)
those created in a time range, `?delivery=ID` one delivery's attempts. Everything is read for
the session's partner only (portal_state.py); who may sign in is portal_guard.py; CSRF, origin
checks and the security headers are /ops's (ops_guard.py: /portal is in HARDENED).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from syndication.api import ops_guard, portal_actions, portal_html, portal_guard, portal_state, session
from syndication.api.ops_html import NO_STORE, REFRESH_MS
from syndication.api.pages import templates
from syndication.api.portal_html import forbidden, login as login_page, sections
from syndication.api.session import PORTAL
from syndication.api.throttle import TooManyAttempts

router = APIRouter(include_in_schema=False)
router.include_router(portal_actions.router)


@router.post("/portal/login")
async def login(request: Request):
    if not ops_guard.same_origin(request):
        return forbidden(request)
    token = (await ops_guard.form(request)).get("token", "")
    try:
        partner = await run_in_threadpool(portal_guard.partner_of, request, token) if token else None
    except TooManyAttempts as exc:
        return portal_html.too_many(request, int(exc.headers["Retry-After"]), exc.detail)
    if partner is None:
        return login_page(request, "That is not a partner's token.")
    keys = portal_guard.partner_keys(request.app.state.settings)
    cookie, _ = await run_in_threadpool(session.start, request.app.state.ctx, PORTAL, keys[partner], partner, partner)
    resp = RedirectResponse("/portal", status_code=303)
    ops_guard.set_cookie(resp, request, cookie, session.LIFETIME, PORTAL)
    return resp


@router.post("/portal/logout")
async def logout(request: Request):
    sess = await run_in_threadpool(portal_guard.current, request)
    if sess is not None:
        if not await ops_guard.form_ok(request, sess):
            return forbidden(request)
        await run_in_threadpool(session.destroy, request.app.state.ctx, sess, PORTAL)
    resp = RedirectResponse("/portal", status_code=303)
    ops_guard.set_cookie(resp, request, "", 0, PORTAL)
    return resp


@router.get("/portal")
def portal(request: Request, article: str | None = None, since: str | None = None, until: str | None = None,
           delivery: str | None = None, note: str | None = None):
    sess = portal_guard.current(request)
    if sess is None:
        return login_page(request)
    try:
        view = portal_state.view_of(article, since, until, delivery, note)
    except portal_state.BadView as exc:
        view = portal_state.View(note=str(exc))  # the page says which field, and shows the rest
    data = portal_state.gather(request.app.state.ctx, sess.key_ref, view)
    parts = sections(data, sess.csrf)
    return templates.TemplateResponse(request, "portal/page.html", {
        "data": data, "csrf": sess.csrf, "who": sess.key_ref, "clock": parts.pop("clock"), "sections": parts,
        "view": {"article": article or "", "since": since or "", "until": until or ""},
        "refresh_ms": REFRESH_MS}, headers=NO_STORE)


@router.get("/portal/state.json")
def state_json(request: Request, article: str | None = None, since: str | None = None, until: str | None = None,
               delivery: str | None = None, note: str | None = None):
    """The partner's data (its own only) and the page's live sections, escaped once by the templates."""
    sess = portal_guard.current(request)
    if sess is None:
        return JSONResponse({"error": "unauthorized", "detail": "sign in at /portal"}, 401, headers=NO_STORE)
    try:
        view = portal_state.view_of(article, since, until, delivery, note)
    except portal_state.BadView as exc:
        return JSONResponse({"error": "invalid_request", "detail": str(exc)}, 422, headers=NO_STORE)
    data = portal_state.gather(request.app.state.ctx, sess.key_ref, view)
    body = {k: v for k, v in data.items() if k != "replayable"}
    return JSONResponse({**body, "sections": sections(data, sess.csrf)}, headers=NO_STORE)
