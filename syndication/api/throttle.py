"""Throttling wrong keys: a client that keeps guessing gets 429, not more guesses.

Every check of a key someone sent (a bearer key on /v1/events, /v1/deliveries,
/ops, articles, partner feeds and pulls, the /ops login form) goes through here:

    ... compare the key (constant time, always) ...
    throttle.before_attempt(request, fingerprint)  # raises TooManyAttempts: 429 with Retry-After
    throttle.failed(request)                       # only when it was wrong

(auth.check_key does exactly this.)

Failures are counted per client address in Redis (keys.auth_failures, a
counter that lives 60 s from the first failure). From the 11th attempt after
10 failures in that minute the client gets 429 with Retry-After
2^(failures-10) s, capped at 300 s. Refused attempts count too, so a client
that keeps trying waits longer each time, and the counter is kept at least
as long as the wait it was told. A successful check neither counts nor resets
the count (a valid publisher key must not buy ops-key guesses).

A key that works is not locked out by someone else's wrong ones (issue 22): one
address is often many clients (a newsroom's NAT, a partner's egress), and a
partner polling with a stale pull token must not lock the publisher out of
`POST /v1/events`. Each time a valid key passes, a fingerprint of it (an HMAC
of the key, never the key) joins the client's known keys (keys.auth_known,
7 days from the last success); while the client is throttled, a valid key it
already used from that address passes, and everything else (a wrong key, or a
valid key never seen from there) gets 429 and counts. So a brute-forcer learns
nothing while refused: a right guess it never used before is answered exactly
as a wrong one. The one thing left is a key already used from the same
address: a guesser behind that NAT can tell it from a wrong guess (the answer
is 2xx); keys are long random strings, so this is no guessing aid in practice.

The client is the connection's peer address as uvicorn reports it
(uvicorn rewrites it from X-Forwarded-For only for peers listed in its
forwarded_allow_ips, which defaults to 127.0.0.1 and ::1).

A client with no failures at all is remembered as clean for CLEAN_FOR seconds,
so the publisher's steady stream of good keys costs no Redis round trip (and
its key is recorded as known at most once per CLEAN_FOR); any failure seen by
this process forgets it at once (another API process may let that client make
one more comparison within CLEAN_FOR).

The throttle fails open: it has its own Redis client with short timeouts and
no retries, and after an error it stands aside for a few seconds, so a Redis
outage never turns a request into a 500 (or a long wait); the route then
answers 503 as it would anyway. The check is made after the key is compared
and the failure counted after it, so a burst of parallel guesses can overshoot
the limit once, by the size of the burst; the waits that follow grow all the same.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

import redis
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from redis.backoff import NoBackoff
from redis.retry import Retry

from syndication.infra.redis_client import connect
from syndication.settings import Secret

log = logging.getLogger("syndication.api")

LIMIT = 10  # failures per client per window before attempts are refused
WINDOW = 60  # seconds, from the first failure
MAX_WAIT = 300
STAND_ASIDE = 5.0  # seconds without throttling after a Redis error
CLEAN_FOR = 1.0  # seconds a client with no failures is not looked up again
KNOWN_FOR = 7 * 86400  # seconds a key that worked from a client still passes while it is throttled

# KEYS[1] the client's failures, KEYS[2] its known keys. ARGV: limit, max wait, the fingerprint of
# the valid key it sent ('' for a wrong one), how long a known key is remembered.
# Returns the wait (the attempt is refused and counted), 0 to go ahead, -1: go ahead, no failures.
_CHECK = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
local valid = ARGV[3] ~= ''
if n >= limit and not (valid and redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 1) then
  redis.call('INCR', KEYS[1])
  local wait = 2 ^ math.min(n - limit, 30)
  if wait > tonumber(ARGV[2]) then wait = tonumber(ARGV[2]) end
  if redis.call('TTL', KEYS[1]) < wait then redis.call('EXPIRE', KEYS[1], wait) end
  return wait
end
if valid then
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
if n == 0 then return -1 end
return 0
"""


class TooManyAttempts(HTTPException):
    def __init__(self, wait: int):
        super().__init__(429, f"too many wrong keys from this address; retry in {wait} s",
                         headers={"Retry-After": str(wait)})


async def too_many_attempts(request: Request, exc: TooManyAttempts) -> JSONResponse:
    """The app's handler for TooManyAttempts: the API's JSON error shape."""
    return JSONResponse({"error": "too_many_attempts", "detail": exc.detail}, status_code=429, headers=exc.headers)


def install(app) -> None:
    app.add_exception_handler(TooManyAttempts, too_many_attempts)


class Throttle:
    def __init__(self, redis_url: str, keys, *, sentinels: tuple = (), master: str | None = None):
        self.keys = keys
        self.redis = connect(redis_url, sentinels=sentinels, master=master, socket_connect_timeout=0.5,
                             socket_timeout=0.5, retry=Retry(NoBackoff(), 0))
        self._check = self.redis.register_script(_CHECK)
        self._aside_until = 0.0
        self._clean: dict[str, float] = {}  # client -> until when it counts as having no failures

    def before_attempt(self, client: str, valid_key: str = "") -> int:
        """The wait to answer (429), 0 to go ahead. `valid_key`: the fingerprint of the key the
        client sent if it is a valid one (`fingerprint`), '' if it is wrong."""
        now = time.monotonic()
        if now < self._aside_until or self._clean.get(client, 0.0) > now:
            return 0
        try:
            wait = int(self._check(keys=[self.keys.auth_failures(client), self.keys.auth_known(client)],
                                   args=[LIMIT, MAX_WAIT, valid_key, KNOWN_FOR]))
        except redis.RedisError as exc:
            self._stand_aside(exc)
            return 0
        if wait < 0:
            if len(self._clean) > 10_000:  # many addresses: forget them all rather than grow
                self._clean.clear()
            self._clean[client] = now + CLEAN_FOR
            return 0
        return wait

    def known_clean(self, client: str) -> bool:
        """Seen with no failures within CLEAN_FOR (no I/O: a fast path may skip the lookup)."""
        return self._clean.get(client, 0.0) > time.monotonic() and time.monotonic() >= self._aside_until

    def failed(self, client: str) -> None:
        self._clean.pop(client, None)
        if time.monotonic() < self._aside_until:
            return
        key = self.keys.auth_failures(client)
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.set(key, 0, nx=True, ex=WINDOW)  # the window starts at the first failure
            pipe.incr(key)
            pipe.execute()
        except redis.RedisError as exc:
            self._stand_aside(exc)

    def _stand_aside(self, exc: Exception) -> None:
        log.warning("auth throttle off for %.0f s: redis: %s", STAND_ASIDE, exc)
        self._aside_until = time.monotonic() + STAND_ASIDE


def fingerprint(key: Secret) -> str:
    """What the known keys of a client hold for `key`: a keyed digest, so Redis never holds a key."""
    return hmac.new(key.value.encode(), b"syndication: a key that worked from this client",
                    hashlib.sha256).hexdigest()[:32]


def client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _throttle(request: Request) -> Throttle:
    state = request.app.state
    found = getattr(state, "auth_throttle", None)
    if found is None:
        found = state.auth_throttle = Throttle(state.settings.redis_url, state.ctx.keys,
                                                sentinels=state.settings.redis_sentinels,
                                                master=state.settings.redis_master)
    return found


def before_attempt(request: Request, valid_key: Secret | None = None) -> None:
    """Raise TooManyAttempts if this client may not try a key now; `valid_key`: the configured key
    the request's key matched (None: it matched none), which passes if it worked here before."""
    wait = _throttle(request).before_attempt(client(request), fingerprint(valid_key) if valid_key else "")
    if wait > 0:
        raise TooManyAttempts(wait)


def failed(request: Request) -> None:
    _throttle(request).failed(client(request))
