"""A partner's TLS settings: which CA to trust for it, and our client certificate (mutual TLS).

    - id: agency
      url: https://push.agency.example/in
      tls:
        ca_file: certs/agency-ca.pem       # trust only this CA for this partner (default: the system bundle)
        client_cert: certs/our-client.pem  # our certificate, for partners that require one (agencies do)
        client_key: certs/our-client.key   # its private key, unencrypted (omit when it is in client_cert)

Relative paths are read from the partners file's directory, so the file and its certificates
deploy together. Every file is read when the partners file is loaded (`config check`, a process
starting, `partners reload`): a missing or unreadable file, a file that holds no PEM certificate,
an encrypted key or a key that does not match its certificate refuses the file in one line
naming the partner and the field. The SSL contexts built from these files live in
delivery/http.py (one per distinct set per process); `digest` is what tells a rotated
certificate under the same path from the one already loaded, so a reload picks it up.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from syndication.errors import ConfigError


class PartnerTls(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: str | None = Field(default=None, min_length=1)
    client_cert: str | None = Field(default=None, min_length=1)
    client_key: str | None = Field(default=None, min_length=1)
    _digest: str = PrivateAttr(default="")  # of the files' contents, set by `checked`

    @model_validator(mode="after")
    def _complete(self):
        if self.client_key and not self.client_cert:
            raise ValueError("client_key: needs client_cert (the certificate it is the key of)")
        if not (self.ca_file or self.client_cert):
            raise ValueError("name ca_file, client_cert or both (or leave tls out)")
        return self

    @property
    def digest(self) -> str:
        return self._digest


class _Encrypted(Exception):
    """The key asks for a passphrase: we have none to give (and OpenSSL would prompt on the tty)."""


def _no_passphrase():
    raise _Encrypted()


def checked(partner, partners_file: Path):
    """`partner` with its TLS paths made absolute (against the partners file's directory) and every
    file loaded once, as a push will load it; ConfigError names the file, the partner and the field.
    A partner without tls is returned as is."""
    tls: PartnerTls | None = getattr(partner, "tls", None)
    if tls is None:
        return partner

    def problem(name: str, text: str) -> ConfigError:
        return ConfigError(f"{partners_file}: partner {partner.id}: {'.'.join(('tls', name)) if name else 'tls'}: {text}")

    if partner.url is not None and not partner.url.lower().startswith("https://"):
        raise problem("", "the url is not https://, so nothing would use these settings")
    paths, contents = {}, hashlib.sha256()
    for name in ("ca_file", "client_cert", "client_key"):
        raw = getattr(tls, name)
        if raw is None:
            continue
        path = (partners_file.parent / raw).resolve() if not Path(raw).is_absolute() else Path(raw)
        try:
            contents.update(path.read_bytes())
        except OSError as exc:
            raise problem(name, f"cannot read {path}: {exc.strerror or exc}") from None
        paths[name] = str(path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if "ca_file" in paths:
        try:
            context.load_verify_locations(cafile=paths["ca_file"])
        except (ssl.SSLError, ValueError):
            raise problem("ca_file", f"{paths['ca_file']} holds no PEM certificate") from None
    if "client_cert" in paths:
        try:
            context.load_cert_chain(paths["client_cert"], paths.get("client_key"), password=_no_passphrase)
        except _Encrypted:
            raise problem("client_key", "the key is encrypted; give an unencrypted key, readable only "
                                        "by the service's user") from None
        except ssl.SSLError as exc:
            if exc.reason == "KEY_VALUES_MISMATCH":
                raise problem("client_key", f"does not match client_cert ({paths['client_cert']})") from None
            field = "client_key" if "client_key" in paths and _has_certificate(paths["client_cert"]) else "client_cert"
            what = "a PEM private key" if field == "client_key" else "a PEM certificate (and its key, without client_key)"
            raise problem(field, f"{paths[field]} is not {what}") from None
    resolved = PartnerTls(**paths)
    resolved._digest = contents.hexdigest()[:16]
    return partner.model_copy(update={"tls": resolved})


def _has_certificate(path: str) -> bool:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
        return True
    except (ssl.SSLError, ValueError, OSError):
        return False
