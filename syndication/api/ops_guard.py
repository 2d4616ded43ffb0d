"""Who may use /ops, and how its pages are hardened.

Access needs an ops key: sent as a bearer token (scripts), or typed once
into the login form, which starts a server-side session (session.py; the
cookie holds only a random token, HttpOnly, SameSite=Strict, Path=/ops).
Key attempts are throttled per client (throttle.py).

Every form that changes something (pause, replay, discard, sign out) must carry the
session's CSRF token and come from this origin (Origin or Referer, and
Sec-Fetch-Site): a cookie is sent whoever made the browser post, a token
in the page is not. Bearer requests need neither, as no other site can make
a browser send an Authorization header. Forms are read with a 4 KiB cap,
after the 16 KiB one of limits.BodyLimit.

Every /ops and /static response, the app's JSON errors and the body-limit 413
included, carries SECURITY_HEADERS: `SecurityHeaders` is an ASGI layer in front of
the app, and BodyLimit adds them to its own 413.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from syndication.api import session
from syndication.api.auth import bearer, check_key
from syndication.api.limits import read_body
from syndication.api.session import COOKIE, Session

FORM_CAP = 4 * 1024  # a key or a CSRF token, and a button name: far below this

SECURITY_HEADERS = {
    # The pages' script and style are files served by us (/static, pages.py), and the script may
    # only fetch from us: no inline script, style or event handler runs; no images, frames or fonts.
    "content-security-policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
                               "style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


# The pages (/ops, the partner portal) and the files they load.
HARDENED = ("/ops", "/portal", "/static")


def is_ops(path: str) -> bool:
    """A path SECURITY_HEADERS apply to: a page, or a file a page loads."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in HARDENED)


def security_headers(path: str) -> list[tuple[bytes, bytes]]:
    """The raw headers an /ops or /static response gets (none for other paths)."""
    return [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()] if is_ops(path) else []


class SecurityHeaders:
    """ASGI layer: SECURITY_HEADERS on every /ops and /static response, replacing any the app set."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not is_ops(scope["path"]):
            await self.app(scope, receive, send)
            return
        ours = security_headers(scope["path"])
        names = {k for k, _ in ours}

        async def send_hardened(message):
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + ours}
            await send(message)

        await self.app(scope, receive, send_hardened)


@dataclass(frozen=True)
class Access:
    session: Session | None  # None: a bearer key
    actor: str  # the ops key's name, for the audit trail


def access(request: Request) -> Access | None:
    """Who is asking: a valid bearer key, a live session, or nobody. Raises TooManyAttempts."""
    state = request.app.state
    keys = state.settings.ops_keys
    token = bearer(request)
    if token is not None and (index := check_key(request, token, keys)) is not None:
        return Access(None, state.settings.ops_key_name(index))
    sess = session.load(state.ctx, keys, request.cookies.get(COOKIE))
    return Access(sess, sess.key_name) if sess is not None else None


def origin_of(url: str) -> str | None:
    """scheme://host[:port] of `url`, lowercased, default port dropped; None if it has none."""
    try:
        parts = urlsplit(url.strip())
        host, port, scheme = parts.hostname, parts.port, parts.scheme.lower()
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def same_origin(request: Request) -> bool:
    """The post came from a page of this service (if the browser says where it came from at all)."""
    headers = request.headers
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site in ("cross-site", "same-site"):
        return False
    ours = {origin_of(str(request.base_url)), origin_of(request.app.state.settings.base_url)} - {None}
    origin = headers.get("origin")
    if origin is not None:
        if origin == "null":
            # Our pages send Referrer-Policy: no-referrer, under which browsers send "Origin: null"
            # even for same-origin form posts. Sec-Fetch-Site, which no page can forge, then
            # says whether it was one.
            if fetch_site != "same-origin":
                return False
        elif origin_of(origin) not in ours:
            return False
    referer = headers.get("referer")
    return referer is None or origin_of(referer) in ours


async def form(request: Request) -> dict[str, str]:
    body = await read_body(request, FORM_CAP)
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=16)
    except ValueError:
        return {}
    return {k: v[0] for k, v in fields.items()}


async def form_ok(request: Request, sess: Session) -> bool:
    """A state-changing form of this session: same origin, and its CSRF token (compared in constant time)."""
    return same_origin(request) and sess.csrf_ok((await form(request)).get("csrf"))


def secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.app.state.settings.base_url.startswith("https")


def set_cookie(resp, request: Request, value: str, max_age: int, realm: session.Realm = session.OPS) -> None:
    """The session cookie of `realm` (HttpOnly, SameSite=Strict, sent only to its page's path)."""
    # A cookie of the old scheme (Path=/) would be sent after ours and shadow it: drop it.
    resp.delete_cookie(realm.cookie, path="/", secure=secure(request), httponly=True, samesite="strict")
    resp.set_cookie(realm.cookie, value, max_age=max_age, path=realm.path, secure=secure(request),
                    httponly=True, samesite="strict")
