"""Sending one push over HTTP: a keep-alive session per partner per thread.

Every request has explicit (connect, read) timeouts from the partner entry.
The private-address guard runs here, just before connecting, because DNS
answers change after the partners file was checked. Response bodies are
read only up to a small cap: an attempt keeps an excerpt, never a partner's
multi-megabyte error page.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

from .. import USER_AGENT
from ..errors import AddressRefused
from ..partners.registry import check_address

EXCERPT_BYTES = 2048
_READ_CAP = 64 * 1024
_local = threading.local()
_ADDRESS_TTL = 30.0


@dataclass(frozen=True)
class Response:
    status: int | None  # None: no HTTP response (timeout, refused, reset, address refused)
    headers: dict[str, str]
    excerpt: str
    latency: float
    error: str | None = None
    permanent: bool = False  # our side cannot send this (address refused, cannot render): no retry


def session_for(partner_id: str) -> requests.Session:
    sessions = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    s = sessions.get(partner_id)
    if s is None:
        s = requests.Session()
        s.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0))
        s.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0))
        s.headers["User-Agent"] = USER_AGENT
        sessions[partner_id] = s
    return s


def _guard(partner) -> None:
    checked = getattr(_local, "checked", None)
    if checked is None:
        checked = _local.checked = {}
    if checked.get((partner.id, partner.url), 0) > time.monotonic():
        return
    check_address(partner)
    checked[(partner.id, partner.url)] = time.monotonic() + _ADDRESS_TTL


def send(partner, body: bytes, headers: dict[str, str]) -> Response:
    started = time.perf_counter()
    try:
        _guard(partner)
        resp = session_for(partner.id).post(
            partner.url, data=body, headers=headers, stream=True,
            timeout=(partner.timeouts.connect, partner.timeouts.read), allow_redirects=False,
        )
    except AddressRefused as exc:
        return Response(None, {}, "", time.perf_counter() - started, f"address refused: {exc}", permanent=True)
    except requests.Timeout as exc:
        return Response(None, {}, "", time.perf_counter() - started, f"timeout: {type(exc).__name__}")
    except requests.RequestException as exc:
        return Response(None, {}, "", time.perf_counter() - started, f"{type(exc).__name__}: {exc}"[:300])
    chunks, size = [], 0
    try:
        for chunk in resp.iter_content(8192):
            chunks.append(chunk)
            size += len(chunk)
            if size > _READ_CAP:
                break  # too big to drain: this connection is dropped, not reused
    except (requests.RequestException, OSError) as exc:
        chunks.append(f"<body unreadable: {type(exc).__name__}>".encode())
    finally:
        resp.close()
    content = b"".join(chunks)
    latency = time.perf_counter() - started
    return Response(resp.status_code, dict(resp.headers), content[:EXCERPT_BYTES].decode("utf-8", "replace"), latency)
