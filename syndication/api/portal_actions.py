"""What a partner can do from /portal, for itself only: replay its dead letters, send a test push.

    POST /portal/replay/{delivery id}        one of its deliveries (dead, parked or retrying)
    POST /portal/replay-dead-letters         all its dead letters, or those dead since `since`
    POST /portal/test-push                   a signed sample in its format, to its endpoint

Each needs the partner's live portal session, and a form carrying its CSRF token from this
origin (ops_guard.form_ok's rules). The partner acted for is the session's, never one named in
the request: a delivery of another partner is "no delivery" here. Replays run the code and
write the audit records of /ops replays (ops_actions.replay_delivery, replay_dead_letters), with
the actor "partner <id> (portal)". Each action is limited per partner (RATES per minute, in
Redis: portal:rate:{partner}:{action}); past it the answer is 429 with Retry-After.
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from syndication.api import ops_actions, ops_guard, portal_guard, portal_html, portal_state, query
from syndication.delivery import records, sample_push

router = APIRouter(include_in_schema=False)
RATES = {"replay": 10, "test-push": 5}  # per partner per minute
WINDOW = 60


def actor(partner: str) -> str:
    return f"partner {partner} (portal)"


def over_rate(ctx, partner: str, action: str) -> int:
    """Count this use; the seconds to wait if it is one too many (0: go ahead)."""
    key = ctx.keys.portal_rate(partner, action)
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.set(key, 0, nx=True, ex=WINDOW)  # the window starts at the first use
    pipe.incr(key)
    pipe.ttl(key)
    _, used, ttl = pipe.execute()
    return max(1, ttl) if used > RATES[action] else 0


async def act(request: Request, action: str, run: Callable[[object, str, dict], str]):
    """Run `run(ctx, partner, form) -> note` for the signed-in partner, CSRF, origin and rate checked."""
    sess = await run_in_threadpool(portal_guard.current, request)
    if sess is None:
        return portal_html.login(request, "Sign in first.")
    fields = await ops_guard.form(request)
    if not (ops_guard.same_origin(request) and sess.csrf_ok(fields.get("csrf"))):
        return portal_html.forbidden(request)
    if not query.plain_path(request):
        return RedirectResponse(f"/portal?note={quote('nothing done: the address holds a control character')}",
                                status_code=303)
    ctx = request.app.state.ctx
    wait = await run_in_threadpool(over_rate, ctx, sess.key_ref, action)
    if wait:
        return portal_html.too_many(request, wait, f"too many {action}s this minute; retry in {wait} s")
    note = await run_in_threadpool(run, ctx, sess.key_ref, fields)
    return RedirectResponse(f"/portal?note={quote(note)}", status_code=303)


@router.post("/portal/replay/{delivery_id}")
async def replay(delivery_id: str, request: Request):
    def run(ctx, partner: str, fields: dict) -> str:
        if portal_state.own(records.get(ctx, delivery_id), partner) is None:
            return f"no delivery {delivery_id}"  # another partner's reads as unknown
        return ops_actions.replay_delivery(ctx, delivery_id, actor(partner))
    return await act(request, "replay", run)


@router.post("/portal/replay-dead-letters")
async def replay_dead_letters(request: Request):
    def run(ctx, partner: str, fields: dict) -> str:
        try:
            since = portal_state.parse_time("since", fields.get("since"))
        except portal_state.BadView as exc:
            return f"nothing replayed: {exc}"
        return ops_actions.replay_dead_letters(ctx, partner, actor(partner), since)
    return await act(request, "replay", run)


@router.post("/portal/test-push")
async def test_push(request: Request):
    def run(ctx, partner: str, fields: dict) -> str:
        result = sample_push.send(ctx, partner)
        if result is None:
            return "no test push: you only pull (no endpoint is configured for pushes)"
        answer = f"HTTP {result['status']}" if result["status"] is not None else result["error"]
        return f"test push {result['webhook_id']}: {answer} in {result['latency_ms']} ms"
    return await act(request, "test-push", run)
