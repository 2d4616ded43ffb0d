"""/ops: one server-rendered page for the person on call. No JavaScript, no build step.

Queues, partners with their circuit, recent failures, dead events and dead letters with a
replay button, and a search by article id. Who may use it, CSRF and the security headers
are in ops_guard.py.
"""

from __future__ import annotations

import html
import time
from datetime import datetime, timezone
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from syndication.api import ops_guard, session
from syndication.api.auth import check_key
from syndication.api.session import COOKIE
from syndication.api.throttle import TooManyAttempts
from syndication.delivery import deadletters, records
from syndication.ops import status
from syndication.pipeline import apply

router = APIRouter(include_in_schema=False)
e = html.escape


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "–"


def _table(headers: list[str], rows: list[list[str]], empty: str = "nothing here", id: str = "") -> str:
    if not rows:
        return f"<p class=muted id='{id}'>{e(empty)}</p>"
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table id='{id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:20px}h2{font-size:16px;
margin-top:1.6em}table{border-collapse:collapse;min-width:50%}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left}th{background:#f3f3f3}.open{background:#f8d7da;font-weight:bold}.half_open{background:#fff3cd}
.closed{background:#d4edda}.muted{color:#777}form.inline{display:inline}code{font-size:12px}"""


def _page(title: str, body: str, status_code: int = 200, headers: dict | None = None) -> HTMLResponse:
    doc = (f"<!doctype html><html><head><meta charset=utf-8><title>{e(title)}</title>"
           f"<style>{STYLE}</style></head><body>{body}</body></html>")
    return HTMLResponse(doc, status_code=status_code, headers={"Cache-Control": "no-store", **(headers or {})})


def _login(message: str = "") -> HTMLResponse:
    return _page("syndication ops: sign in", f"<h1>syndication ops</h1><p>{e(message)}</p>"
                 "<form method=post action=/ops/login><label>Ops key <input type=password name=key "
                 "autofocus></label> <button>Sign in</button></form>", 401)


def _forbidden() -> HTMLResponse:
    return _page("syndication ops: refused", "<h1>syndication ops</h1><p>That form was not sent from this "
                 "ops page, or it is out of date: nothing was done. <a href=/ops>Back to the ops page</a></p>", 403)


def _too_many(exc: TooManyAttempts) -> HTMLResponse:
    return _page("syndication ops: wait", f"<h1>syndication ops</h1><p>{e(exc.detail)}</p>", 429,
                 headers=exc.headers)


@router.post("/ops/login")
async def login(request: Request):
    if not ops_guard.same_origin(request):
        return _forbidden()
    key = (await ops_guard.form(request)).get("key", "")
    state = request.app.state
    keys = state.settings.ops_keys
    try:
        index = await run_in_threadpool(check_key, request, key, keys) if key else None
    except TooManyAttempts as exc:
        return _too_many(exc)
    if index is None:
        return _login("That key is not an ops key.")
    token, _ = await run_in_threadpool(session.create, state.ctx, keys, index)
    resp = RedirectResponse("/ops", status_code=303)
    ops_guard.set_cookie(resp, request, token, session.LIFETIME)
    return resp


@router.post("/ops/logout")
async def logout(request: Request):
    state = request.app.state
    sess = await run_in_threadpool(session.load, state.ctx, state.settings.ops_keys, request.cookies.get(COOKIE))
    if sess is not None:
        if not await ops_guard.form_ok(request, sess):
            return _forbidden()
        await run_in_threadpool(session.destroy, state.ctx, sess)
    resp = RedirectResponse("/ops", status_code=303)
    ops_guard.set_cookie(resp, request, "", 0)
    return resp


async def _act(request: Request, what: str, action) -> HTMLResponse | RedirectResponse:
    """Run a state-changing ops action: signed in (or an ops bearer key), CSRF and origin checked."""
    try:
        who = await run_in_threadpool(ops_guard.access, request)
    except TooManyAttempts as exc:
        return _too_many(exc)
    if who is None:
        return _login(f"Sign in to {what}.")
    if who.session is not None and not await ops_guard.form_ok(request, who.session):
        return _forbidden()
    note = await run_in_threadpool(action, request.app.state.ctx)
    return RedirectResponse(f"/ops?note={quote(note)}", status_code=303)


@router.post("/ops/replay/{delivery_id}")
async def replay(delivery_id: str, request: Request):
    def run(ctx) -> str:
        return f"replayed {delivery_id}" if deadletters.replay_one(ctx, delivery_id) else f"no delivery {delivery_id}"
    return await _act(request, "replay deliveries", run)


@router.post("/ops/replay-event/{event_id:path}")
async def replay_event(event_id: str, request: Request):
    def run(ctx) -> str:
        return f"replayed event {event_id}" if apply.replay_dead(ctx, event_id) else f"no dead event {event_id}"
    return await _act(request, "replay events", run)


def _dead_events(ctx, csrf: str | None) -> str:
    rows = [[f"<code>{e(d['event_id'])}</code>", e(d["type"]),
             f"<a href='/ops?article={quote(d['article_id'])}'>{e(d['article_id'])}</a>", str(d["version"]),
             str(d["failures"]), e(d["last_error"]),
             f"<form class=inline method=post action='/ops/replay-event/{quote(d['event_id'])}'>"
             f"{_csrf_field(csrf)}<button name=replay>Replay</button></form>"]
            for d in apply.dead_events(ctx, limit=50)]
    return _table(["event", "type", "article", "v", "failures", "last error", ""], rows, "no dead events",
                  id="dead-events")


def _partners(live: dict) -> str:
    rows = []
    for p in live["partners"]:
        rate = p["success_rate_last_hour"]
        rows.append([
            f"<b>{e(p['id'])}</b>", "yes" if p["enabled"] else f"no ({e(p['disabled_reason'] or '')})",
            "paused" if p["paused"] else "", f"<span class={e(p['circuit'])}>{e(p['circuit'])}</span>",
            _when(p["failing_since"]), str(p["consecutive_failures"]), str(p["waiting"]),
            str(p["scheduled_retries"]), status.human_age(p["oldest_waiting_seconds"]), _when(p["last_success_at"]),
            "–" if rate is None else f"{rate:.0%}", "–" if p["p95_latency_ms_last_hour"] is None
            else f"{p['p95_latency_ms_last_hour']:.0f} ms"])
    return _table(["partner", "enabled", "paused", "circuit", "failing since", "consecutive failures",
                   "waiting", "retries", "oldest waiting", "last success", "success 1h", "p95 1h"], rows)


def _csrf_field(csrf: str | None) -> str:
    return f"<input type=hidden name=csrf value='{e(csrf)}'>" if csrf else ""


def _delivery_rows(ctx, recs: list[dict], button: bool, csrf: str | None) -> list[list[str]]:
    rows = []
    for r in recs:
        action = (f"<form class=inline method=post action='/ops/replay/{quote(r['id'], safe='')}'>"
                  f"{_csrf_field(csrf)}<button name=replay>Replay</button></form>") if button else ""
        rows.append([f"<code>{e(r['id'])}</code>", e(r["partner"]),
                     f"<a href='/ops?article={quote(r['article_id'])}'>{e(r['article_id'])}</a>",
                     str(r["version"]), e(r["status"]), str(r.get("attempts", 0)), _when(r.get("updated_at")),
                     e(str(r.get("last_error") or r.get("last_status") or "")), action])
    return rows


@router.get("/ops")
def ops_page(request: Request, article: str | None = None, note: str | None = None):
    try:
        who = ops_guard.access(request)
    except TooManyAttempts as exc:
        return _too_many(exc)
    if who is None:
        return _login()
    csrf = who.session.csrf if who.session else None
    ctx = request.app.state.ctx
    live = status.status(ctx)
    signed_in = (f" · signed in with {e(who.session.key_name)} <form class=inline method=post action=/ops/logout>"
                 f"{_csrf_field(csrf)}<button name=logout>Sign out</button></form>") if who.session else ""
    parts = [f"<h1>syndication ops</h1><p class=muted>{_when(live['at'])}"
             + (f" · <b>{e(note)}</b>" if note else "") + signed_in + "</p>",
             "<form method=get action=/ops>Article id <input name=article value='"
             + e(article or "") + "'> <button>Search</button></form>"]
    cols = ["delivery", "partner", "article", "v", "status", "attempts", "updated", "last error", ""]
    if article:
        recs = records.for_article(ctx, article)
        parts.append(f"<h2>Deliveries of {e(article)}</h2>" + _table(cols, _delivery_rows(ctx, recs, True, csrf),
                                                                     "no deliveries for this article"))
    queue_rows = [[e(q), str(n)] for q, n in live["queues"].items()]
    queue_rows += [["unacknowledged", str(live["unacked"])], ["events accepted, not applied",
                                                              str(live["events_pending"])]]
    parts.append("<h2>Queues</h2>" + _table(["queue", "depth"], queue_rows))
    parts.append("<h2>Partners</h2>" + _partners(live))
    since = time.time() - 24 * 3600
    failing = []
    for p in ctx.settings.push_targets:
        failing += [r for r in records.for_partner(ctx, p.id, since=since, limit=200)
                    if r["status"] in ("retrying", "dead", "parked")]
    failing.sort(key=lambda r: -r.get("updated_at", 0))
    parts.append("<h2>Recent failures (24 h)</h2>" + _table(cols, _delivery_rows(ctx, failing[:25], False, csrf)))
    dead_ids = [i.decode() for i in ctx.redis.zrevrange(ctx.keys.deadletters, 0, 49)]
    parts.append(f"<h2>Dead letters ({live['dead_letters']})</h2>"
                 + _table(cols, _delivery_rows(ctx, records.get_many(ctx, dead_ids), True, csrf), "no dead letters",
                        id="dead-letters"))
    parts.append(f"<h2>Dead events ({live['dead_events']})</h2>"
                 "<p class=muted>Events that failed to apply 5 times; replay after the fix.</p>"
                 + _dead_events(ctx, csrf))
    return _page("syndication ops", "".join(parts))
