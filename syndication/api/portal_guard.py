"""Who may use /portal: a partner, signed in with its own portal or pull token, in a session of its own.

A partner types its portal token (`portal: {token_env: ...}` in the partners file), or, without
one, its pull token (`pull: {token_env: ...}`) once into the sign-in form: a partner that does
not pull signs in with a portal token, and one with both keeps its scripts' token out of
people's hands (then the pull token does not open the portal). The token is checked like every
key (auth.check_key: constant time, throttled per client, so guessing gets 429), and a portal session starts (session.py, realm PORTAL: cookie
`synd_portal`, Path=/portal, HttpOnly, SameSite=Strict). The session holds the partner's id,
and every read and action of the portal is scoped by it (portal_state.py, portal_actions.py):
nothing a partner sends names the partner it acts for. A changed or removed token ends its
sessions (the session's key check). Forms carry the session's CSRF token and must come from
this origin (ops_guard.form_ok, as on /ops); bearer tokens are not accepted here: the portal
is a page, the pull API is the scripts' way in.
"""

from __future__ import annotations

from fastapi import Request

from syndication.api import session
from syndication.api.auth import check_key
from syndication.api.session import PORTAL, Session
from syndication.settings import Secret


def partner_keys(settings) -> dict[str, Secret]:
    """Each partner that may sign in, by id: its portal token, or without one its pull token."""
    found = {}
    for p in settings.partners:
        secrets = settings.secrets_for(p.id)
        token = secrets.get("portal_token") or secrets.get("pull_token")
        if token is not None:
            found[p.id] = token
    return found


def partner_of(request: Request, token: str) -> str | None:
    """The partner whose portal (or pull) token `token` is, or None; throttled (raises TooManyAttempts)."""
    keys = partner_keys(request.app.state.settings)
    ids = list(keys)
    index = check_key(request, token, tuple(keys.values()))
    return ids[index] if index is not None else None


def current(request: Request) -> Session | None:
    """The partner's live portal session (its id is `key_ref`), or None."""
    state = request.app.state
    return session.find(state.ctx, PORTAL, partner_keys(state.settings), request.cookies.get(PORTAL.cookie))
