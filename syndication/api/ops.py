"""/ops: one server-rendered page for the person on call. No JavaScript, no build step.

Queues, partners with their circuit, recent failures, dead letters with a
replay button, and a search by article id. Access needs an ops key: sent as
a bearer token, or typed once into the login form, which sets a session
cookie holding an HMAC of the key (never the key itself).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from .. import status
from ..delivery import deadletters, records
from .auth import bearer, key_matches

router = APIRouter(include_in_schema=False)
COOKIE = "synd_ops"
e = html.escape


def _session(key: str) -> str:
    return hmac.new(key.encode(), b"syndication-ops-session", hashlib.sha256).hexdigest()


def _authorised(request: Request) -> bool:
    keys = request.app.state.settings.ops_keys
    if key_matches(bearer(request), keys):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return any(hmac.compare_digest(cookie, _session(k.value)) for k in keys)


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


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    doc = (f"<!doctype html><html><head><meta charset=utf-8><title>{e(title)}</title>"
           f"<style>{STYLE}</style></head><body>{body}</body></html>")
    return HTMLResponse(doc, status_code=status_code, headers={"Cache-Control": "no-store"})


def _login(message: str = "") -> HTMLResponse:
    return _page("syndication ops: sign in", f"<h1>syndication ops</h1><p>{e(message)}</p>"
                 "<form method=post action=/ops/login><label>Ops key <input type=password name=key "
                 "autofocus></label> <button>Sign in</button></form>", 401)


@router.post("/ops/login")
async def login(request: Request):
    key = parse_qs((await request.body()).decode("utf-8", "replace")).get("key", [""])[0]
    if not key_matches(key, request.app.state.settings.ops_keys):
        return _login("That key is not an ops key.")
    resp = RedirectResponse("/ops", status_code=303)
    resp.set_cookie(COOKIE, _session(key), httponly=True, samesite="strict", max_age=12 * 3600)
    return resp


@router.post("/ops/replay/{delivery_id}")
def replay(delivery_id: str, request: Request):
    if not _authorised(request):
        return _login("Sign in to replay deliveries.")
    ok = deadletters.replay_one(request.app.state.ctx, delivery_id)
    note = f"replayed {delivery_id}" if ok else f"no delivery {delivery_id}"
    return RedirectResponse(f"/ops?note={quote(note)}", status_code=303)


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


def _delivery_rows(ctx, recs: list[dict], button: bool) -> list[list[str]]:
    rows = []
    for r in recs:
        action = (f"<form class=inline method=post action=/ops/replay/{e(r['id'])}>"
                  f"<button name=replay>Replay</button></form>") if button else ""
        rows.append([f"<code>{e(r['id'])}</code>", e(r["partner"]),
                     f"<a href='/ops?article={quote(r['article_id'])}'>{e(r['article_id'])}</a>",
                     str(r["version"]), e(r["status"]), str(r.get("attempts", 0)), _when(r.get("updated_at")),
                     e(str(r.get("last_error") or r.get("last_status") or "")), action])
    return rows


@router.get("/ops")
def ops_page(request: Request, article: str | None = None, note: str | None = None):
    if not _authorised(request):
        return _login()
    ctx = request.app.state.ctx
    live = status.status(ctx)
    parts = [f"<h1>syndication ops</h1><p class=muted>{_when(live['at'])}"
             + (f" · <b>{e(note)}</b>" if note else "") + "</p>",
             "<form method=get action=/ops>Article id <input name=article value='"
             + e(article or "") + "'> <button>Search</button></form>"]
    cols = ["delivery", "partner", "article", "v", "status", "attempts", "updated", "last error", ""]
    if article:
        recs = records.for_article(ctx, article)
        parts.append(f"<h2>Deliveries of {e(article)}</h2>" + _table(cols, _delivery_rows(ctx, recs, True),
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
    parts.append("<h2>Recent failures (24 h)</h2>" + _table(cols, _delivery_rows(ctx, failing[:25], False)))
    dead_ids = [i.decode() for i in ctx.redis.zrevrange(ctx.keys.deadletters, 0, 49)]
    parts.append(f"<h2>Dead letters ({live['dead_letters']})</h2>"
                 + _table(cols, _delivery_rows(ctx, records.get_many(ctx, dead_ids), True), "no dead letters",
                        id="dead-letters"))
    return _page("syndication ops", "".join(parts))
