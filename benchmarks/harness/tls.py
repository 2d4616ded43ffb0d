"""A throwaway certificate authority for a benchmark's TLS partners (trustme).

`throwaway_ca(dirpath, address)` writes `ca.pem` (the CA clients must trust) and `server.pem` (the
partners' key and certificate chain, valid for `address`, an IP) and returns both paths. Nothing
is installed in the machine's trust store: each client is told about `ca.pem` in its own
environment (`trust_env`: REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE for requests, SSL_CERT_FILE for
ssl.create_default_context()).

trustme comes with the bench extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.harness import BenchError


def throwaway_ca(dirpath: Path, address: str) -> tuple[str, str]:
    try:
        import trustme
    except ImportError:
        raise BenchError("trustme is not installed (TLS partners need a throwaway CA): "
                         ".venv/bin/pip install -e '.[bench]'") from None
    ca = trustme.CA()
    cert = ca.issue_cert(address)
    ca_pem, server_pem = dirpath / "ca.pem", dirpath / "server.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    cert.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    return str(ca_pem), str(server_pem)


def trust_env(ca_pem: str) -> dict[str, str]:
    """What a client process's environment needs to trust the throwaway CA (and only it)."""
    # requests prefers REQUESTS_CA_BUNDLE (then CURL_CA_BUNDLE) from the environment over a session's
    # own `verify`, so a shell that sets them for the system bundle must not win here.
    return {"REQUESTS_CA_BUNDLE": ca_pem, "CURL_CA_BUNDLE": ca_pem, "SSL_CERT_FILE": ca_pem}
