"""TLS for pushes: the process's SSL contexts, and what an attempt says when TLS fails.

One context per distinct (CA bundle, client certificate, key) per process, built at the first
connection that needs it and shared by every connection after: building one reads the whole CA
bundle (~17 ms, STACK.md trap 14), so never one per partner or per request. Verification is
always on (CERT_REQUIRED, hostname checked). A partner's `tls:` entry (partners/tls.py) names
its CA file and our client certificate; its files were read when the partners file was loaded.

A TLS failure is recorded as `SSLError: certificate verify failed: <why>` or
`SSLError: handshake failed: <why>` in OpenSSL's words, never with a path or the URL
(notices.failure_of reads the `SSLError` prefix as tls_error).
"""

from __future__ import annotations

import os
import re
import ssl
from functools import lru_cache

import urllib3

SSL_POSITION = re.compile(r"\s*\(_ssl\.c:\d+\)")


@lru_cache(maxsize=64)
def tls_context(ca_bundle: str, client_cert: str | None = None, client_key: str | None = None,
                digest: str = "") -> ssl.SSLContext:
    """The process's SSL context for a CA bundle and client certificate: built once, shared by every
    TLS connection that names the same files. `digest` (of the files' contents, partners/tls.py)
    tells a certificate rotated under the same path from the one in a context already built."""
    context = ssl.create_default_context(cafile=None if os.path.isdir(ca_bundle) else ca_bundle,
                                         capath=ca_bundle if os.path.isdir(ca_bundle) else None)
    if client_cert:
        context.load_cert_chain(client_cert, client_key, password=_no_passphrase)
    return context


def _no_passphrase():
    raise ssl.SSLError("the client key is encrypted")  # never a prompt on the worker's terminal


def tls_failure(exc: BaseException) -> str | None:
    """`SSLError: certificate verify failed: <why>` or `SSLError: handshake failed: <why>` when a TLS
    failure is anywhere in `exc`'s chain (urllib3 and requests wrap it in one to three layers), else
    None. OpenSSL's words only: no source position, no path, no URL."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"SSLError: certificate verify failed: {e.verify_message}"[:300]
        if isinstance(e, ssl.SSLError):
            why = e.reason.lower().replace("_", " ") if e.reason else str(e.args[-1] if e.args else e)
            return f"SSLError: handshake failed: {SSL_POSITION.sub('', why)}"[:300]
        todo += [c for c in (getattr(e, "reason", None), *getattr(e, "args", ()), e.__cause__, e.__context__)
                 if isinstance(c, BaseException)]
    if isinstance(exc, urllib3.exceptions.SSLError):  # ours (Transport.context) or urllib3's own words
        return f"SSLError: {exc}"[:300]
    return None
