"""What a person can do from /ops: every action is a POST, checked, done by the core, and audited.

    POST /ops/partners/{id}/pause | resume | enable     circuit.pause / resume, deadletters.enable
    POST /ops/partners/{id}/replay | discard            all dead letters of that partner
    POST /ops/replay/{delivery id}                      one delivery (dead, parked or retrying)
    POST /ops/discard/{delivery id}                     one dead letter
    POST /ops/replay-event/{event id}                   one dead event

Each needs a live session whose form carries the CSRF token from this origin, or an ops bearer
key (ops_guard.py). Each writes an audit record naming the ops key that acted (its configured
name), then redirects to /ops with a note saying what happened. The page asks for
confirmation first (ops.js); the checks here do not depend on it.
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from syndication.api import ops_guard, ops_html, query
from syndication.api.throttle import TooManyAttempts
from syndication.delivery import circuit, deadletters, records
from syndication.ops import audit
from syndication.pipeline import dead_events

router = APIRouter(include_in_schema=False)


async def act(request: Request, what: str, action: Callable[[object, str], str]):
    """Run `action(ctx, actor) -> note` for a signed-in (or bearer) ops user, CSRF and origin checked."""
    try:
        who = await run_in_threadpool(ops_guard.access, request)
    except TooManyAttempts as exc:
        return ops_html.too_many(request, exc)
    if who is None:
        return ops_html.login(request, f"Sign in to {what}.")
    if who.session is not None and not await ops_guard.form_ok(request, who.session):
        return ops_html.forbidden(request)
    if not query.plain_path(request):  # `{event_id:path}` would stop at a newline: act on no cut-off id
        return RedirectResponse(f"/ops?note={quote('nothing done: the address holds a control character')}",
                                status_code=303)
    note = await run_in_threadpool(action, request.app.state.ctx, who.actor)
    return RedirectResponse(f"/ops?note={quote(note)}", status_code=303)


def replay_delivery(ctx, did: str, actor: str) -> str:
    return _on_delivery(ctx, did, actor, "replay", "replayed", deadletters.replay, "replayed")


def discard_delivery(ctx, did: str, actor: str) -> str:
    return _on_delivery(ctx, did, actor, "discard", "discarded", deadletters.discard, "discarded")


def _on_delivery(ctx, did: str, actor: str, action: str, done: str, run, done_field: str) -> str:
    """One delivery's replay or discard; the core decides what it may do and says why not."""
    rec = records.get(ctx, did)
    if rec is None:
        return f"no delivery {did}"
    result = run(ctx, [did])
    if did not in getattr(result, done_field):
        return f"not {done}: {did}: {result.skipped.get(did, rec['status'])}"
    audit.record(ctx, action, target=did, actor=actor, partner=rec["partner"])
    return f"{done} {did}"


def replay_dead_letters(ctx, pid: str, actor: str, since: float | None = None) -> str:
    """Every dead letter of partner `pid` (dead since `since`, if given) back in line, audited once
    with the count: for /ops, and for the partner itself on /portal."""
    result = deadletters.replay(ctx, deadletters.select(ctx, partner=pid, since=since))
    audit.record(ctx, "replay", target=f"partner {pid}", actor=actor, count=len(result.replayed),
                 **({"since": since} if since is not None else {}))
    skipped = len(result.skipped)
    return f"replayed {len(result.replayed)} dead letters of {pid}" + (f", {skipped} skipped" if skipped else "")


def _partner_action(ctx, pid: str, verb: str, actor: str) -> str:
    if ctx.settings.target(pid) is None and ctx.settings.partner(pid) is None:  # the ops webhook may be paused too
        return f"no partner {pid}"
    if verb == "pause":
        circuit.pause(ctx, pid)
        audit.record(ctx, "pause", target=pid, actor=actor)
        return f"paused {pid}: its deliveries wait until it is resumed"
    if verb == "resume":
        circuit.resume(ctx, pid)
        audit.record(ctx, "resume", target=pid, actor=actor)
        return f"resumed {pid}"
    if verb == "enable":
        n = deadletters.enable(ctx, pid)
        audit.record(ctx, "enable", target=pid, actor=actor, count=n)
        return f"enabled {pid}: {n} parked deliveries due again"
    if verb == "replay":
        return replay_dead_letters(ctx, pid, actor)
    ids = deadletters.select(ctx, partner=pid)
    result = deadletters.discard(ctx, ids)
    audit.record(ctx, "discard", target=f"partner {pid}", actor=actor, count=len(result.discarded))
    return f"discarded {len(result.discarded)} dead letters of {pid}"


PARTNER_VERBS = {"pause": "pause partners", "resume": "resume partners", "enable": "enable partners",
                 "replay": "replay dead letters", "discard": "discard dead letters"}


def _partner_route(verb: str, what: str) -> None:
    """POST /ops/partners/{id}/{verb}: one route per verb, so any other verb is the router's 404."""
    async def partner_action(partner_id: str, request: Request):
        return await act(request, what, lambda ctx, actor: _partner_action(ctx, partner_id, verb, actor))
    router.add_api_route(f"/ops/partners/{{partner_id}}/{verb}", partner_action, methods=["POST"],
                         name=f"ops_partner_{verb}")


for _verb, _what in PARTNER_VERBS.items():
    _partner_route(_verb, _what)


@router.post("/ops/replay/{delivery_id}")
async def replay(delivery_id: str, request: Request):
    return await act(request, "replay deliveries", lambda ctx, actor: replay_delivery(ctx, delivery_id, actor))


@router.post("/ops/discard/{delivery_id}")
async def discard(delivery_id: str, request: Request):
    return await act(request, "discard dead letters", lambda ctx, actor: discard_delivery(ctx, delivery_id, actor))


@router.post("/ops/replay-event/{event_id:path}")
async def replay_event(event_id: str, request: Request):
    def run(ctx, actor: str) -> str:
        if not dead_events.replay_dead(ctx, event_id):
            return f"no dead event {event_id}"
        audit.record(ctx, "replay-event", target=event_id, actor=actor)
        return f"replayed event {event_id}"
    return await act(request, "replay events", run)
