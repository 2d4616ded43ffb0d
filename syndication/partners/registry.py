"""Partner registry: the partners file, validated, with secrets resolved from the environment.

A partner receives one push per article version it wants (its filters), in its
format, at its Target (target.py: URL, auth, timeouts, retry, breaker). Secrets
are never written in the file: `secret_env`/`token_env`/`password_env` name
environment variables, resolved here into `Secret` values.

A partner may also pull its items (`GET /v1/partners/{id}/items`) with a
token of its own: `pull: {token_env: NAME}` (resolved as `pull_token`). It signs in to
/portal with its pull token, or with a portal token of its own, `portal: {token_env: NAME}`
(resolved as `portal_token`; when set, only it opens the portal: api/portal_guard.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from syndication.errors import ConfigError
from syndication.filters import PartnerFilters
from syndication.partners.formats import PUSH_FORMATS
from syndication.partners.target import TARGET_KEYS, Target, target_secrets
from syndication.partners.tls import checked as tls_checked
from syndication.settings.files import load_entries
from syndication.settings.secret import Secret


class Pull(BaseModel):
    """The pull API for this partner: its bearer token, in the environment variable `token_env`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_env: str = Field(min_length=1)


class Portal(BaseModel):
    """/portal for this partner: its sign-in token, in the environment variable `token_env` (a partner
    that does not pull has no pull token to sign in with; one that does may keep them apart)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_env: str = Field(min_length=1)


class Partner(BaseModel):
    """A newsroom customer: what it wants, in which format, and its Target if it takes pushes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    format: Literal[tuple(PUSH_FORMATS)] = "json"  # the names are the formats registered in formats/
    filters: PartnerFilters = Field(default_factory=PartnerFilters)
    enabled: bool = True
    # An embargoed story (pipeline/embargo.py): `hold` (default) sends it at the embargo instant;
    # `send` (trusted agencies) sends it at once, marked embargoed in the partner's format.
    embargo: Literal["hold", "send"] = "hold"
    pull: Pull | None = None  # None: this partner cannot use the pull API
    portal: Portal | None = None  # None: it signs in to /portal with its pull token, if it has one
    # Where its pushes go (target.py), gathered from the entry's flat keys; None: it only pulls.
    target: Target | None = None

    @model_validator(mode="before")
    @classmethod
    def _gather_target(cls, data):
        """The file writes the target's keys flat (`url`, `auth`, `timeouts`, ...): gather them."""
        if not isinstance(data, dict) or "target" in data:
            return data
        data = dict(data)
        flat = {key: data.pop(key) for key in TARGET_KEYS if key in data and key != "enabled"}
        if flat.get("url") is None:
            flat.pop("url", None)
            if flat:  # a pull-only partner with push settings: say which key needs a URL
                raise ValueError(f"{sorted(flat)[0]}: needs url (a partner without url only pulls)")
            return data
        data["target"] = {"id": data.get("id", ""), "enabled": data.get("enabled", True), **flat}
        return data

    @model_validator(mode="after")
    def _pushes_or_pulls(self):
        if self.target is None and self.pull is None:
            raise ValueError("url: required, unless the partner only pulls (pull: {token_env: ...})")
        return self

    @property
    def pushes(self) -> bool:
        """Deliveries are created for it: it has a target and is enabled."""
        return self.target is not None and self.enabled


def resolve_secrets(partner: Partner, env: Mapping[str, str]) -> dict[str, Secret]:
    """The partner's secrets from the environment (its target's auth, its pull token);
    ConfigError names a missing variable."""
    owner = f"partner {partner.id}"
    out = target_secrets(partner.target, env, owner) if partner.target is not None else {}
    if partner.pull is not None:
        name = partner.pull.token_env
        if not env.get(name, "").strip():
            raise ConfigError(f"{owner}: environment variable {name} (pull.token_env) is not set")
        out["pull_token"] = Secret(env[name].strip())
    if partner.portal is not None:
        name = partner.portal.token_env
        if not env.get(name, "").strip():
            raise ConfigError(f"{owner}: environment variable {name} (portal.token_env) is not set")
        out["portal_token"] = Secret(env[name].strip())
    return out


def load_partners(path: Path | None) -> tuple[Partner, ...]:
    if path is None:
        return ()
    partners = load_entries(path, "partners", Partner, lambda partner: partner.id)
    # TLS files read now, not at the first push (partners/tls.py): they are the target's.
    return tuple(p if p.target is None else p.model_copy(update={"target": tls_checked(p.target, path)})
                 for p in partners)
