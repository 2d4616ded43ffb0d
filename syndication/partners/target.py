"""Target: where pushes go and how (URL, auth, TLS, timeouts, retry policy, breaker), apart from who wants what.

A partner (registry.py) is a newsroom customer: what it wants (filters), in which format, held
by embargo or not, whether it pulls; it *has* a Target when it takes pushes. The WebSub hub and
the ops webhook are targets too, built by configuration.py, but no partners: they have no
filters, format or pull, and no partner id can take theirs. The delivery machinery (claim,
circuit, leases, http, decide) works on Targets only; what a delivery carries (an article in its
partner's format, a hub ping, a notice) is the delivery's own business (delivery/push.py).

The partners file writes a partner's target keys flat beside its other keys (`url`, `auth`,
`timeouts`, `max_in_flight`, ...); `Partner` gathers them into its `target`.

Redis keys stay `partner:{id}:...` for every target: a target's id is its partner's id, or the
reserved id of a system target (`websub-hub`, `ops-webhook`).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from syndication.errors import AddressRefused, ConfigError
from syndication.partners import address
from syndication.partners.signing import check_private_keys
from syndication.partners.tls import PartnerTls
from syndication.settings.secret import Secret


class Auth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["none", "bearer", "basic", "standard-webhooks"] = "none"
    secret_env: str | None = None  # standard-webhooks: whsec_... (space-separated for rotation)
    # standard-webhooks `v1a` (partners/ed25519.py): our whsk_ key; with secret_env too, both sign (migration).
    algorithm: Literal["hmac-sha256", "ed25519"] = "hmac-sha256"
    private_key_env: str | None = None
    token_env: str | None = None  # bearer
    username: str | None = None  # basic
    password_env: str | None = None  # basic

    @model_validator(mode="after")
    def _needs(self):
        if self.algorithm == "ed25519" or self.private_key_env:
            if self.type != "standard-webhooks" or self.algorithm != "ed25519" or not self.private_key_env:
                raise ValueError("private_key_env and algorithm 'ed25519' go together, with type 'standard-webhooks'")
        need = {"standard-webhooks": "secret_env", "bearer": "token_env", "basic": "password_env"}
        key = None if self.private_key_env else need.get(self.type)
        if key and not getattr(self, key):
            raise ValueError(f"auth type {self.type!r} needs {key}")
        if self.type == "basic" and not self.username:
            raise ValueError("auth type 'basic' needs username")
        return self


class Timeouts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    connect: float = Field(default=3.0, gt=0, le=60)
    read: float = Field(default=10.0, gt=0, le=300)


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_attempts: int = Field(default=15, ge=1, le=100)
    max_age: float = Field(default=24 * 3600, gt=0, description="seconds")
    base_delay: float = Field(default=2.0, gt=0)
    max_delay: float = Field(default=600.0, gt=0)
    max_retry_after: float = Field(default=3600.0, gt=0)
    # Response classes by status code, overriding the defaults (see delivery/outcome.py).
    retry_on: list[int] = Field(default_factory=list)
    permanent_on: list[int] = Field(default_factory=list)


class RateLimit(BaseModel):
    """At most `requests` per `period` seconds on average, `burst` at once (delivery/ratelimit.py: GCRA).

    Written `{per_second: 20, burst: 40}`, `{per_minute: 600, burst: 50}` or `{requests: 5,
    period: 10}`. A rate of 0 is refused, not read as "unlimited" or "never": a partner without a
    limit leaves `rate_limit` out, and one that must get nothing is paused or disabled.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    per_second: float | None = Field(default=None, gt=0)
    per_minute: float | None = Field(default=None, gt=0)
    requests: float | None = Field(default=None, gt=0)
    period: float | None = Field(default=None, gt=0, description="seconds")
    burst: int = Field(default=1, ge=1)  # requests that may go at once after a quiet spell

    @model_validator(mode="after")
    def _one_rate(self):
        given = [n for n in ("per_second", "per_minute", "requests") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of per_second, per_minute or requests (with period)")
        if (self.requests is None) != (self.period is None):
            raise ValueError("requests and period go together")
        return self

    @property
    def rate(self) -> tuple[float, float]:
        """(requests, period in seconds)."""
        if self.per_second is not None:
            return self.per_second, 1.0
        if self.per_minute is not None:
            return self.per_minute, 60.0
        return self.requests, self.period

    def __str__(self) -> str:
        requests, period = self.rate
        return f"{requests:g}/{period:g}s, burst {self.burst}"


class Target(BaseModel):
    """One endpoint we push to: a partner's, or a system target's (the WebSub hub, the ops webhook)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    url: str
    auth: Auth = Field(default_factory=Auth)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    # Concurrent pushes to this target (its slots, shared by every process). Keep
    # SYNDICATION_DELIVERY_IN_FLIGHT well above the largest value (`config check` refuses one at
    # half of it or more): a target that hangs holds its slots until its first read timeout, then
    # one (delivery/circuit.py, the cut).
    max_in_flight: int = Field(default=2, ge=1, le=256)
    batch_size: int = Field(default=50, ge=1, le=1000)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cooldown: float = Field(default=30.0, gt=0)
    # The circuit also opens once the target has failed this long without a success (two
    # failures at least): a hanging target fails once per read timeout (delivery/circuit.py).
    breaker_failing_for: float = Field(default=10.0, gt=0)
    # A partner's `enabled` (false: nothing is sent, pending deliveries cancelled); system targets always are.
    enabled: bool = True
    allow_private_network: bool = False
    tls: PartnerTls | None = None  # its CA file and our client certificate (partners/tls.py)
    rate_limit: RateLimit | None = None  # None: no limit (delivery/ratelimit.py)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        return address.check_url(v)  # the same rules run again at every send


# The system targets' ids: reserved, no partner may take them (configuration.py refuses it).
WEBSUB_HUB = "websub-hub"
OPS_WEBHOOK = "ops-webhook"
SYSTEM_TARGETS = {WEBSUB_HUB: "the WebSub hub", OPS_WEBHOOK: "the ops webhook"}
# Our own WebSub hub's subscribers are targets too, one per (topic, callback), built from their Redis
# records (delivery/targets.py): `ws-` and 24 hex digits. Their metrics share one label (SUBSCRIBERS):
# a series per subscriber would let anyone who can subscribe grow Prometheus without bound.
SUBSCRIBER_PREFIX = "ws-"
SUBSCRIBERS = "websub-subscribers"


def is_subscriber(target_id: str) -> bool:
    return target_id.startswith(SUBSCRIBER_PREFIX)


def metric_id(target_id: str) -> str:
    """The `partner` label of a target's metrics: its id, or SUBSCRIBERS for any hub subscriber."""
    return SUBSCRIBERS if is_subscriber(target_id) else target_id

# The keys of a partners-file entry that describe its target (the rest are the partner's own).
TARGET_KEYS = tuple(name for name in Target.model_fields if name != "id")


def target_secrets(target: Target, env: Mapping[str, str], owner: str) -> dict[str, Secret]:
    """The target's auth secrets from the environment; ConfigError names `owner` and the missing variable."""
    out: dict[str, Secret] = {}
    for key in ("secret_env", "token_env", "password_env", "private_key_env"):
        name = getattr(target.auth, key)
        if name:
            if not env.get(name):
                raise ConfigError(f"{owner}: environment variable {name} ({key}) is not set")
            out[key] = Secret(env[name])
    if "private_key_env" in out:
        check_private_keys(out["private_key_env"], f"{owner}: environment variable {target.auth.private_key_env} "
                                                   "(auth.private_key_env)")
    return out


def check_address(target: Target, resolver=socket.getaddrinfo) -> None:
    """Refuse a target URL whose host resolves (now) to a non-public address.

    For `config check`: deliveries do not call this, they check inside each
    connection (delivery/http.py), since DNS answers change. Raises
    AddressRefused; a resolution failure raises OSError (socket.gaierror),
    which is not a refusal: the name may resolve later.
    """
    if target.allow_private_network:
        return
    parts = urlsplit(target.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address.resolve(parts.hostname, port, resolver)
    except AddressRefused as exc:
        raise AddressRefused(f"partner {target.id}: {exc}") from None
