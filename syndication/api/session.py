"""Ops sessions: a random token in the cookie, everything else kept server-side in Redis.

Signing in to /ops creates a session:

    cookie synd_ops = secrets.token_urlsafe(32)      (nothing derived from the key)
    ops:session:{sha256 hex of the token}  hash      key_name, key_index, key_check, csrf, created_at
                                                     TTL 12 h: the server ends it, whatever the cookie says

Only the token's hash is stored, so reading Redis gives no usable cookie.
`key_name` says which ops key signed in: its configured name (SYNDICATION_OPS_KEYS
as `alice:key,...`; "ops key 2" for a plain key), shown on the page and written as
the actor of every audit record; `key_index` is its place in SYNDICATION_OPS_KEYS; `key_check`, a keyed digest of
that key, ends the session as soon as the key is removed from the configuration.
`csrf` is the token every /ops form carries back.

A cookie is looked up, never compared: anything that is not a well-formed
token (non-ASCII, garbage, the old HMAC cookie) is simply no session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from syndication.settings import Secret

COOKIE = "synd_ops"
COOKIE_PATH = "/ops"
LIFETIME = 12 * 3600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}", re.ASCII)  # what token_urlsafe(32) produces


@dataclass(frozen=True)
class Session:
    token_hash: str
    key_name: str
    csrf: str

    def csrf_ok(self, submitted: str | None) -> bool:
        return submitted is not None and hmac.compare_digest(
            submitted.encode("utf-8", "surrogateescape"), self.csrf.encode())


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _key_check(key: Secret) -> str:
    return hmac.new(key.value.encode(), b"syndication ops session key check", hashlib.sha256).hexdigest()[:16]


def create(ctx, keys: tuple[Secret, ...], index: int, name: str | None = None) -> tuple[str, Session]:
    """A new session for ops key `keys[index]`, named `name` (settings.ops_key_name(index));
    returns the cookie token and the session."""
    token = secrets.token_urlsafe(32)
    sess = Session(_hash(token), name or f"ops key {index + 1}", secrets.token_urlsafe(32))
    key = ctx.keys.ops_session(sess.token_hash)
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.hset(key, mapping={"key_name": sess.key_name, "key_index": index, "key_check": _key_check(keys[index]),
                            "csrf": sess.csrf, "created_at": time.time()})
    pipe.expire(key, LIFETIME)
    pipe.execute()
    return token, sess


def load(ctx, keys: tuple[Secret, ...], cookie: str | None) -> Session | None:
    """The live session `cookie` names, or None (malformed, expired, signed out, or its key removed)."""
    if not cookie or not _TOKEN.fullmatch(cookie):
        return None
    token_hash = _hash(cookie)
    data = {k.decode(): v.decode() for k, v in ctx.redis.hgetall(ctx.keys.ops_session(token_hash)).items()}
    index = int(data["key_index"]) if data.get("key_index", "").isdigit() else -1
    if not data.get("csrf") or not 0 <= index < len(keys):
        return None
    if not hmac.compare_digest(data.get("key_check", "").encode(), _key_check(keys[index]).encode()):
        return None  # that key is no longer configured (or not in that place): the session ends with it
    return Session(token_hash, data.get("key_name", ""), data["csrf"])


def destroy(ctx, sess: Session) -> None:
    ctx.redis.delete(ctx.keys.ops_session(sess.token_hash))
