"""Page sessions (/ops, /portal): a random token in the cookie, everything else kept server-side in Redis.

Signing in to a page creates a session of that page's `Realm`:

    cookie synd_ops (or synd_portal) = secrets.token_urlsafe(32)     (nothing derived from the key)
    ops:session:{sha256 hex of the token}  hash       key_name, key_ref, key_check, csrf, created_at
    portal:session:{...}                              the same, for a partner's portal session
                                                      TTL 12 h: the server ends it, whatever the cookie says

Only the token's hash is stored, so reading Redis gives no usable cookie.
`key_name` says who signed in: for /ops the ops key's configured name (SYNDICATION_OPS_KEYS
as `alice:key,...`; "ops key 2" for a plain key), shown on the page and written as the actor
of every audit record; for /portal the partner's id. `key_ref` says which configured key it
was (its place in SYNDICATION_OPS_KEYS; the partner id); `key_check`, a keyed digest of that
key, ends the session as soon as the key is removed or changed in the configuration.
`csrf` is the token every form of the page carries back.

A cookie is looked up, never compared: anything that is not a well-formed
token (non-ASCII, garbage, the old HMAC cookie) is simply no session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from syndication.settings import Secret

LIFETIME = 12 * 3600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}", re.ASCII)  # what token_urlsafe(32) produces


@dataclass(frozen=True)
class Realm:
    """A page with sessions of its own: its cookie, the path the cookie is sent to, its Redis key family."""

    cookie: str
    path: str
    key: str  # the Keys method naming a session's hash

    def redis_key(self, ctx, token_hash: str) -> str:
        return getattr(ctx.keys, self.key)(token_hash)


OPS = Realm("synd_ops", "/ops", "ops_session")
PORTAL = Realm("synd_portal", "/portal", "portal_session")
COOKIE, COOKIE_PATH = OPS.cookie, OPS.path  # /ops's, as before the portal


@dataclass(frozen=True)
class Session:
    token_hash: str
    key_name: str
    csrf: str
    key_ref: str = ""  # which configured key signed in: an ops key's index, a partner's id

    def csrf_ok(self, submitted: str | None) -> bool:
        return submitted is not None and hmac.compare_digest(
            submitted.encode("utf-8", "surrogateescape"), self.csrf.encode())


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _key_check(key: Secret) -> str:
    return hmac.new(key.value.encode(), b"syndication ops session key check", hashlib.sha256).hexdigest()[:16]


def ops_keys(keys: tuple[Secret, ...]) -> dict[str, Secret]:
    """The ops keys by reference (their place in SYNDICATION_OPS_KEYS), as `start` and `find` take them."""
    return {str(i): key for i, key in enumerate(keys)}


def start(ctx, realm: Realm, key: Secret, ref: str, name: str) -> tuple[str, Session]:
    """A new session of `realm` for the configured `key` known as `ref`, named `name`; returns the
    cookie token and the session."""
    token = secrets.token_urlsafe(32)
    sess = Session(_hash(token), name, secrets.token_urlsafe(32), ref)
    where = realm.redis_key(ctx, sess.token_hash)
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.hset(where, mapping={"key_name": sess.key_name, "key_ref": ref, "key_check": _key_check(key),
                              "csrf": sess.csrf, "created_at": time.time()})
    pipe.expire(where, LIFETIME)
    pipe.execute()
    return token, sess


def create(ctx, keys: tuple[Secret, ...], index: int, name: str | None = None) -> tuple[str, Session]:
    """A new /ops session for ops key `keys[index]`, named `name` (settings.ops_key_name(index))."""
    return start(ctx, OPS, keys[index], str(index), name or f"ops key {index + 1}")


def find(ctx, realm: Realm, keys: Mapping[str, Secret], cookie: str | None) -> Session | None:
    """The live session of `realm` that `cookie` names, or None (malformed, expired, signed out, or
    its key removed or changed: `keys` are the configured ones by reference)."""
    if not cookie or not _TOKEN.fullmatch(cookie):
        return None
    token_hash = _hash(cookie)
    data = {k.decode(): v.decode() for k, v in ctx.redis.hgetall(realm.redis_key(ctx, token_hash)).items()}
    key = keys.get(data.get("key_ref", ""))
    if not data.get("csrf") or key is None:
        return None
    if not hmac.compare_digest(data.get("key_check", "").encode(), _key_check(key).encode()):
        return None  # that key is no longer configured (or not in that place): the session ends with it
    return Session(token_hash, data.get("key_name", ""), data["csrf"], data["key_ref"])


def load(ctx, keys: tuple[Secret, ...], cookie: str | None) -> Session | None:
    """The live /ops session `cookie` names, or None."""
    return find(ctx, OPS, ops_keys(keys), cookie)


def destroy(ctx, sess: Session, realm: Realm = OPS) -> None:
    ctx.redis.delete(realm.redis_key(ctx, sess.token_hash))
