"""Partner registry: the partners file, validated, with secrets resolved from the environment.

A partner is an HTTP endpoint that receives one push per article version it
wants (its filters), in its format, authenticated the way it asks. Secrets
are never written in the file: `secret_env`/`token_env`/`password_env` name
environment variables, resolved here into `Secret` values.

A partner may also pull its items (`GET /v1/partners/{id}/items`) with a
token of its own: `pull: {token_env: NAME}` (resolved as `pull_token`).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from syndication.partners import address
from syndication.partners.formats import PUSH_FORMATS
from syndication.partners.tls import PartnerTls, checked as tls_checked
from syndication.errors import AddressRefused, ConfigError
from syndication.filters import PartnerFilters
from syndication.settings.files import load_entries
from syndication.settings.model import OPS_WEBHOOK_PARTNER_ID, WEBSUB_PARTNER_ID
from syndication.settings.secret import Secret



class Auth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["none", "bearer", "basic", "standard-webhooks"] = "none"
    secret_env: str | None = None  # standard-webhooks: whsec_... (space-separated for rotation)
    token_env: str | None = None  # bearer
    username: str | None = None  # basic
    password_env: str | None = None  # basic

    @model_validator(mode="after")
    def _needs(self):
        need = {"standard-webhooks": "secret_env", "bearer": "token_env", "basic": "password_env"}
        key = need.get(self.type)
        if key and not getattr(self, key):
            raise ValueError(f"auth type {self.type!r} needs {key}")
        if self.type == "basic" and not self.username:
            raise ValueError("auth type 'basic' needs username")
        return self


class Pull(BaseModel):
    """The pull API for this partner: its bearer token, in the environment variable `token_env`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_env: str = Field(min_length=1)


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


class Partner(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    url: str | None = None  # None: a partner that only pulls (`pull` below); nothing is pushed to it
    format: Literal[tuple(PUSH_FORMATS)] = "json"  # the names are the formats registered in formats/
    auth: Auth = Field(default_factory=Auth)
    filters: PartnerFilters = Field(default_factory=PartnerFilters)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    # Concurrent pushes to this partner (its slots, shared by every process). Keep
    # SYNDICATION_DELIVERY_IN_FLIGHT well above the largest value (`config check` refuses one at
    # half of it or more): a partner that hangs holds its slots until its first read timeout, then
    # one (delivery/circuit.py, the cut).
    max_in_flight: int = Field(default=2, ge=1, le=256)
    batch_size: int = Field(default=50, ge=1, le=1000)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cooldown: float = Field(default=30.0, gt=0)
    # The circuit also opens once the partner has failed this long without a success (two
    # failures at least): a hanging partner fails once per read timeout (delivery/circuit.py).
    breaker_failing_for: float = Field(default=10.0, gt=0)
    enabled: bool = True
    allow_private_network: bool = False
    # An embargoed story (pipeline/embargo.py): `hold` (default) sends it at the embargo instant;
    # `send` (trusted agencies) sends it at once, marked embargoed in the partner's format.
    embargo: Literal["hold", "send"] = "hold"
    pull: Pull | None = None  # None: this partner cannot use the pull API
    tls: PartnerTls | None = None  # its CA file and our client certificate (partners/tls.py)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        return None if v is None else address.check_url(v)  # the same rules run again at every send

    @model_validator(mode="after")
    def _pushes_or_pulls(self):
        if self.url is None and self.pull is None:
            raise ValueError("url: required, unless the partner only pulls (pull: {token_env: ...})")
        return self

    @property
    def pushes(self) -> bool:
        """Deliveries are created for it: it has a URL and is enabled."""
        return self.url is not None and self.enabled


def resolve_secrets(partner: Partner, env: Mapping[str, str]) -> dict[str, Secret]:
    """The partner's secrets from the environment; ConfigError names a missing variable."""
    out: dict[str, Secret] = {}
    for key in ("secret_env", "token_env", "password_env"):
        name = getattr(partner.auth, key)
        if name:
            if not env.get(name):
                raise ConfigError(f"partner {partner.id}: environment variable {name} ({key}) is not set")
            out[key] = Secret(env[name])
    if partner.pull is not None:
        name = partner.pull.token_env
        if not env.get(name, "").strip():
            raise ConfigError(f"partner {partner.id}: environment variable {name} (pull.token_env) is not set")
        out["pull_token"] = Secret(env[name].strip())
    return out


def load_partners(path: Path | None) -> tuple[Partner, ...]:
    if path is None:
        return ()
    partners = load_entries(path, "partners", Partner, lambda partner: partner.id)
    partners = tuple(tls_checked(p, path) for p in partners)  # files read now, not at the first push
    for reserved, what in ((WEBSUB_PARTNER_ID, "the WebSub hub"), (OPS_WEBHOOK_PARTNER_ID, "the ops webhook")):
        if any(p.id == reserved for p in partners):
            raise ConfigError(f"{path}: partner id {reserved!r} is reserved for {what}")
    return partners


def check_address(partner: Partner, resolver=socket.getaddrinfo) -> None:
    """Refuse a partner URL whose host resolves (now) to a non-public address.

    For `config check`: deliveries do not call this, they check inside each
    connection (delivery/http.py), since DNS answers change. Raises
    AddressRefused; a resolution failure raises OSError (socket.gaierror),
    which is not a refusal: the name may resolve later.
    """
    if partner.allow_private_network or partner.url is None:  # None: pull only, nothing is sent
        return
    parts = urlsplit(partner.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address.resolve(parts.hostname, port, resolver)
    except AddressRefused as exc:
        raise AddressRefused(f"partner {partner.id}: {exc}") from None
