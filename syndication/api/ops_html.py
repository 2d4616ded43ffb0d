"""The HTML of /ops: the page shell and its live sections, made from what ops_state.gather read.

Each section is a fragment with a stable id (`banner`, `partners`, `workers`, ...). The first
load serves them inside the shell; `/ops/state.json` serves the same fragments, and ops.js swaps
the ones that changed in place, so the page refreshes without a reload or a flicker. Every
value from Redis, a partner or a publisher goes through `e` (html.escape) here, the one place
HTML is made; the CSP (no inline script, script only from us) is the second line.

Forms that change something carry the session's CSRF token; those with `data-confirm` ask
first (ops.js), and the server checks the token and the origin whatever the browser did.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from fastapi.responses import HTMLResponse

from syndication.api.ops_state import DISCARDABLE, FAILURE_HOURS, INCIDENT_DAYS, REPLAYABLE, in_banner
from syndication.ops import status

e = html.escape


def when(ts: float | None) -> str:
    """A time with its zone (UTC), machine-readable too."""
    if not ts:
        return "–"
    t = datetime.fromtimestamp(float(ts), timezone.utc)
    return f"<time datetime='{t.isoformat(timespec='seconds')}'>{t:%Y-%m-%d %H:%M:%S} UTC</time>"


def table(headers: list[str], rows: list[list[str]], empty: str = "nothing here", id: str = "") -> str:
    ident = f" id='{e(id)}'" if id else ""
    if not rows:
        return f"<p class=muted{ident}>{e(empty)}</p>"
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def csrf_field(csrf: str | None) -> str:
    return f"<input type=hidden name=csrf value='{e(csrf)}'>" if csrf else ""


def button(action: str, label: str, name: str, csrf: str | None, confirm: str | None = None) -> str:
    ask = f" data-confirm='{e(confirm)}'" if confirm else ""
    return (f"<form class=inline method=post action='{e(action)}'{ask}>{csrf_field(csrf)}"
            f"<button name={e(name)}>{e(label)}</button></form>")


STYLE = """body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:20px}h2{font-size:16px;
margin-top:1.6em}table{border-collapse:collapse;min-width:50%}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}.open{background:#f8d7da;font-weight:bold}
.half_open{background:#fff3cd}.closed{background:#d4edda}.muted{color:#777}form.inline{display:inline;margin-right:4px}
code{font-size:12px}.banner{background:#b00020;color:#fff;padding:10px 14px;border-radius:4px;font-weight:bold}
.banner ul,.warn ul{margin:4px 0 0 0;padding-left:20px}.warn{background:#fff3cd;padding:8px 14px;border-radius:4px}
.missing{color:#b00020;font-weight:bold}.ok{color:#1e7e34}.stale{color:#b00020;font-weight:bold}
pre{white-space:pre-wrap;word-break:break-all;max-width:60em;margin:0;font-size:12px}
.note{background:#e7f1ff;padding:6px 12px;border-radius:4px}#detail:not(:empty){border:2px solid #345;padding:4px 12px}
form.search{margin:10px 0}#banner,#warnings,#note{margin:8px 0}"""


def page(title: str, body: str, script: bool = False) -> str:
    js = "<script src='/ops/ops.js' defer></script>" if script else ""
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{e(title)}</title>"
            f"<style>{STYLE}</style>{js}</head><body>{body}</body></html>")


# --- sections -----------------------------------------------------------------------------------------


def banner(data: dict) -> str:
    loud = [p for p in data["problems"] if in_banner(p)]
    if not loud:
        return ""
    items = "".join(f"<li>{e(p['text'])}</li>" for p in loud)
    return f"<div class=banner role=alert>Needs attention now<ul>{items}</ul></div>"


def warnings(data: dict) -> str:
    quiet = [p for p in data["problems"] if not in_banner(p)]
    if not quiet:
        return ""
    return "<div class=warn>Warnings<ul>" + "".join(f"<li>{e(p['text'])}</li>" for p in quiet) + "</ul></div>"


def clock(data: dict) -> str:
    return f"as of {when(data['at'])}"


def note(data: dict) -> str:
    text = data["view"].note
    return f"<p class=note>{e(text)}</p>" if text else ""


def delivery_link(did: str) -> str:
    return f"<a data-detail href='/ops?delivery={quote(did, safe='')}#detail'><code>{e(did)}</code></a>"


def delivery_actions(r: dict, csrf: str | None) -> str:
    did, out = r["id"], []
    if r["status"] in REPLAYABLE:
        out.append(button(f"/ops/replay/{quote(did, safe='')}", "Replay", "replay", csrf,
                          f"Send delivery {did} to {r['partner']} again now?"))
    if r["status"] in DISCARDABLE:
        out.append(button(f"/ops/discard/{quote(did, safe='')}", "Discard", "discard", csrf,
                          f"Discard dead letter {did}? It will not be sent."))
    return "".join(out)


DELIVERY_COLUMNS = ["delivery", "partner", "article", "v", "status", "attempts", "updated", "last error", ""]


def delivery_rows(recs: list[dict], csrf: str | None) -> list[list[str]]:
    return [[delivery_link(r["id"]), e(r["partner"]),
             f"<a href='/ops?article={quote(r['article_id'], safe='')}'>{e(r['article_id'])}</a>",
             str(r.get("version", "")), e(r["status"]), str(r.get("attempts", 0)), when(r.get("updated_at")),
             e(str(r.get("last_error") or r.get("last_status") or "")), delivery_actions(r, csrf)]
            for r in recs]


def detail(data: dict, csrf: str | None) -> str:
    found = data["delivery"]
    if found is None:
        return ""
    rec, attempts = found["record"], found["attempts"]
    did = data["view"].delivery
    if rec is None:
        return f"<h2>Delivery {e(did)}</h2><p>No delivery with this id (it may have expired).</p>"
    head = table(DELIVERY_COLUMNS, delivery_rows([rec], csrf))
    rows = [[str(a.get("n", "")), when(a.get("at")), e(str(a.get("status") or "–")),
             f"{float(a.get('latency_ms') or 0):.0f} ms", e(str(a.get("outcome") or "")),
             e(str(a.get("error") or "")), f"<pre>{e(str(a.get('response') or ''))}</pre>"] for a in attempts]
    return (f"<h2>Delivery {e(did)}</h2>{head}<h3>Attempts</h3>"
            + table(["#", "at", "HTTP", "latency", "outcome", "error", "partner's response (excerpt)"], rows,
                    "no attempts yet", id="attempts")
            + "<p><a href='/ops'>close</a></p>")


def article(data: dict, csrf: str | None) -> str:
    recs, aid = data["article"], data["view"].article
    if recs is None:
        return ""
    return (f"<h2>Deliveries of {e(aid)}</h2>"
            + table(DELIVERY_COLUMNS, delivery_rows(recs, csrf), "no deliveries for this article",
                    id="article-deliveries"))


def partner_actions(p: dict, dead: int, csrf: str | None) -> str:
    pid, base = p["id"], f"/ops/partners/{quote(p['id'], safe='')}"
    out = [button(f"{base}/resume", "Resume", "resume", csrf, f"Resume deliveries to {pid}?") if p["paused"]
           else button(f"{base}/pause", "Pause", "pause", csrf,
                       f"Pause {pid}? Its deliveries wait until you resume it.")]
    if p.get("disabled") or p.get("disabled_reason"):
        out.append(button(f"{base}/enable", "Enable", "enable", csrf,
                          f"Re-enable {pid}? Its parked deliveries are sent again."))
    if dead:
        out.append(button(f"{base}/replay", f"Replay {dead} dead", "replay-all", csrf,
                          f"Replay all {dead} dead letters of {pid} now?"))
        out.append(button(f"{base}/discard", f"Discard {dead} dead", "discard-all", csrf,
                          f"Discard all {dead} dead letters of {pid}? They will not be sent."))
    return "".join(out)


def _why(p: dict) -> str:
    parts = [f"HTTP {p['last_status']}" if p.get("last_status") else "", p.get("last_error") or ""]
    return e(": ".join(x for x in parts if x))


def _troubled(p: dict) -> bool:
    return p["circuit"] != "closed" or not p["enabled"] or p["paused"] or p["consecutive_failures"] > 0


def partners(data: dict, csrf: str | None) -> str:
    rows = []
    # Partners in trouble first: at 3 a.m. the one that matters is not the 17th row.
    for p in sorted(data["status"]["partners"], key=lambda p: not _troubled(p)):
        rate, p95 = p["success_rate_last_hour"], p["p95_latency_ms_last_hour"]
        dead = data["dead_by_partner"].get(p["id"], 0)
        rows.append([
            f"<b>{e(p['id'])}</b>", "yes" if p["enabled"] else f"no ({e(p['disabled_reason'] or '')})",
            "<b>paused</b>" if p["paused"] else "", f"<span class={e(p['circuit'])}>{e(p['circuit'])}</span>",
            when(p["failing_since"]), str(p["consecutive_failures"]), _why(p), str(p["waiting"]),
            str(p.get("retrying", p["scheduled_retries"])), status.human_age(p["oldest_waiting_seconds"]),
            when(p["last_success_at"]), str(dead), "–" if rate is None else f"{rate:.0%}",
            "–" if p95 is None else f"{p95:.0f} ms", partner_actions(p, dead, csrf)])
    return "<h2>Partners</h2>" + table(
        ["partner", "enabled", "paused", "circuit", "failing since", "consecutive failures", "last failure",
         "waiting", "retrying", "oldest waiting", "last success", "dead letters", "success 1h", "p95 1h", "actions"],
        rows, id="partners-table")


def workers(data: dict) -> str:
    panel = data["status"]["workers"]
    queue_rows = [[e(q), str(data["status"]["queues"].get(q, "")),
                   e(", ".join(n["online"])) or "<span class=missing>none</span>",
                   f"<span class=missing>{e(', '.join(n['missing']))}</span>" if n["missing"] else ""]
                  for q, n in panel["queues"].items()]
    now = data["at"]
    rows = []
    for w in panel["list"]:
        state = ("<span class=ok>online</span>" if w["online"] else
                 f"<span class=missing>{'stopped' if w.get('stopped_at') else 'missing'}</span>")
        rows.append([e(w["name"]), e(", ".join(w.get("queues", []))), e(str(w.get("host", ""))),
                     e(str(w.get("pid", ""))), state, when(w.get("last_seen")),
                     status.human_age(max(0.0, now - float(w.get("last_seen") or now)))])
    st = data["status"]
    extra = [["unacknowledged", str(st["unacked"]), "", ""], ["events accepted, not applied",
                                                              str(st["events_pending"]), "", ""]]
    return ("<h2>Workers</h2>" + table(["queue", "depth", "online", "missing"], queue_rows + extra, id="queues")
            + table(["worker", "queues", "host", "pid", "state", "last seen", "ago"], rows,
                    "no worker heartbeats yet", id="workers-table"))


def incidents(data: dict) -> str:
    head = f"<h2>Incidents ({INCIDENT_DAYS} days)</h2>"
    rows = []
    for i in data["incidents"]:
        end = i.get("ended_at")
        length = (end or data["at"]) - (i.get("started_at") or data["at"])
        rows.append([e(str(i.get("partner", ""))), when(i.get("started_at")), when(i.get("opened_at")),
                     when(end) if end else "<span class=missing>ongoing</span>", status.human_age(length),
                     "–" if i.get("affected") is None else str(i["affected"]), _why(i)])
    return head + table(["partner", "failing since", "circuit opened", "ended", "lasted", "deliveries affected",
                         "last failure"], rows, "no incidents", id="incidents-table")


def failures(data: dict, csrf: str | None) -> str:
    return (f"<h2>Recent failures ({FAILURE_HOURS} h)</h2><p class=muted>Deliveries that failed at least once, "
            "delivered in the end or not.</p>"
            + table(DELIVERY_COLUMNS, delivery_rows(data["failures"], csrf), id="failures-table"))


def dead_letters(data: dict, csrf: str | None) -> str:
    return (f"<h2>Dead letters ({data['status']['dead_letters']})</h2>"
            + table(DELIVERY_COLUMNS, delivery_rows(data["dead_letters"], csrf),
                    "no dead letters"))


def dead_events(data: dict, csrf: str | None) -> str:
    rows = [[f"<code>{e(d['event_id'])}</code>", e(d["type"]),
             f"<a href='/ops?article={quote(d['article_id'], safe='')}'>{e(d['article_id'])}</a>", str(d["version"]),
             str(d["failures"]), e(d["last_error"]),
             button(f"/ops/replay-event/{quote(d['event_id'])}", "Replay", "replay", csrf,
                    f"Apply event {d['event_id']} again?")]
            for d in data["dead_events"]]
    return (f"<h2>Dead events ({data['status']['dead_events']})</h2>"
            "<p class=muted>Events that failed to apply 5 times; replay after the fix.</p>"
            + table(["event", "type", "article", "v", "failures", "last error", ""], rows, "no dead events"))


def audit(data: dict) -> str:
    rows = []
    for a in data["audit"]:
        extra = {k: v for k, v in a.items() if k not in ("at", "action", "target", "actor")}
        rows.append([when(a.get("at")), e(str(a.get("actor", ""))), e(str(a.get("action", ""))),
                     e(str(a.get("target", ""))), e(json.dumps(extra, default=str)) if extra else ""])
    return "<h2>Ops actions</h2>" + table(["at", "by", "action", "target", "detail"], rows, "no ops actions yet",
                                          id="audit-table")


def sections(data: dict[str, Any], csrf: str | None) -> dict[str, str]:
    """Every live section of the page, by element id, in page order."""
    return {
        "clock": clock(data),
        "note": note(data),
        "banner": banner(data),
        "warnings": warnings(data),
        "detail": detail(data, csrf),
        "article": article(data, csrf),
        "partners": partners(data, csrf),
        "workers": workers(data),
        "incidents": incidents(data),
        "failures": failures(data, csrf),
        "dead-letters": dead_letters(data, csrf),
        "dead-events": dead_events(data, csrf),
        "audit": audit(data),
    }


def ops_page(data: dict[str, Any], csrf: str | None, who: str | None) -> str:
    parts = sections(data, csrf)
    signed_in = (f" · signed in as {e(who)} " + button("/ops/logout", "Sign out", "logout", csrf)) if who else ""
    head = (f"<h1>syndication ops</h1><div class=muted><span id=clock>{parts.pop('clock')}</span> · "
            f"<span id=live>refreshes every 5 s</span>{signed_in}</div>"
            "<form method=get action=/ops class=search>Article id <input name=article value='"
            + e(data["view"].article or "") + "'> <button>Search</button></form>")
    body = "".join(f"<div id={name}>{html_}</div>" for name, html_ in parts.items())
    return page("syndication ops", head + body, script=True)


# --- whole responses ------------------------------------------------------------------------------------


def respond(title: str, body: str, status_code: int = 200, headers: dict | None = None,
            script: bool = False) -> HTMLResponse:
    return HTMLResponse(page(title, body, script), status_code=status_code,
                        headers={"Cache-Control": "no-store", **(headers or {})})


def login(message: str = ""):
    return respond("syndication ops: sign in", f"<h1>syndication ops</h1><p>{e(message)}</p>"
                   "<form method=post action=/ops/login><label>Ops key <input type=password name=key "
                   "autofocus></label> <button>Sign in</button></form>", 401)


def forbidden():
    return respond("syndication ops: refused", "<h1>syndication ops</h1><p>That form was not sent from this "
                   "ops page, or it is out of date: nothing was done. <a href=/ops>Back to the ops page</a></p>", 403)


def too_many(exc):
    return respond("syndication ops: wait", f"<h1>syndication ops</h1><p>{e(exc.detail)}</p>", 429,
                   headers=exc.headers)
