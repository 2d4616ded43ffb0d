"""/ops: the incident page for the person on call. Served by us, whole: no build step, no CDN.

    GET  /ops                  the page (server-rendered: it reads without JavaScript)
    GET  /ops/state.json       its live sections for the same view, fetched every 5 s by ops.js
                               (static/ops.js, served at /static/ops.js by pages.py)
    POST /ops/login, /logout   the session (session.py)

`?article=ID` adds that article's deliveries, `?delivery=ID` a delivery's attempts with the
partner's response excerpts. What is read is ops_state.py, how it looks ops_html.py and
templates/ops/, the
actions (pause, resume, replay, discard) ops_actions.py; who may use it, CSRF and the security
headers ops_guard.py.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from syndication.api import ops_actions, ops_guard, ops_html, ops_state, session
from syndication.api.auth import check_key
from syndication.api.session import COOKIE
from syndication.api.throttle import TooManyAttempts

router = APIRouter(include_in_schema=False)
router.include_router(ops_actions.router)


@router.post("/ops/login")
async def login(request: Request):
    if not ops_guard.same_origin(request):
        return ops_html.forbidden(request)
    key = (await ops_guard.form(request)).get("key", "")
    state = request.app.state
    keys = state.settings.ops_keys
    try:
        index = await run_in_threadpool(check_key, request, key, keys) if key else None
    except TooManyAttempts as exc:
        return ops_html.too_many(request, exc)
    if index is None:
        return ops_html.login(request, "That key is not an ops key.")
    token, _ = await run_in_threadpool(session.create, state.ctx, keys, index, state.settings.ops_key_name(index))
    resp = RedirectResponse("/ops", status_code=303)
    ops_guard.set_cookie(resp, request, token, session.LIFETIME)
    return resp


@router.post("/ops/logout")
async def logout(request: Request):
    state = request.app.state
    sess = await run_in_threadpool(session.load, state.ctx, state.settings.ops_keys, request.cookies.get(COOKIE))
    if sess is not None:
        if not await ops_guard.form_ok(request, sess):
            return ops_html.forbidden(request)
        await run_in_threadpool(session.destroy, state.ctx, sess)
    resp = RedirectResponse("/ops", status_code=303)
    ops_guard.set_cookie(resp, request, "", 0)
    return resp


def _view(article: str | None, delivery: str | None, note: str | None) -> ops_state.View:
    return ops_state.View(article=article or None, delivery=delivery or None, note=note or None)


@router.get("/ops")
def ops_page(request: Request, article: str | None = None, delivery: str | None = None, note: str | None = None):
    try:
        who = ops_guard.access(request)
    except TooManyAttempts as exc:
        return ops_html.too_many(request, exc)
    if who is None:
        return ops_html.login(request)
    data = ops_state.gather(request.app.state.ctx, _view(article, delivery, note))
    csrf = who.session.csrf if who.session else None
    return ops_html.ops_page(request, data, csrf, who.session.key_name if who.session else None)


@router.get("/ops/state.json")
def ops_state_json(request: Request, article: str | None = None, delivery: str | None = None,
                   note: str | None = None):
    """The page's live sections as HTML fragments (escaped once, by the templates); the problems and each
    partner's queue ages over the last hour (ops/queue_ages.py) as data."""
    try:
        who = ops_guard.access(request)
    except TooManyAttempts as exc:
        return JSONResponse({"error": "too_many_attempts", "detail": exc.detail}, 429, headers=exc.headers)
    if who is None:
        return JSONResponse({"error": "unauthorized", "detail": "sign in at /ops"}, 401)
    data = ops_state.gather(request.app.state.ctx, _view(article, delivery, note))
    csrf = who.session.csrf if who.session else None
    return JSONResponse({"at": data["at"], "problems": data["problems"], "queue_ages": data["queue_ages"],
                         "sections": ops_html.sections(data, csrf)})

