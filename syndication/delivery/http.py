"""Sending one push over HTTP: one keep-alive session per partner per process, shared by its pushers.

A partner's session pools up to `max_in_flight` connections (requests' default keeps 10 and
discards the rest: STACK.md, trap 15), so its concurrent pushes each reuse a kept-alive
connection; TLS connections share one SSL context per CA bundle per process (building one reads
the whole bundle: ~17 ms, trap 14), verified always.

Every request has explicit (connect, read) timeouts from the partner entry.
The SSRF guard (address.py) runs inside the connection itself: the URL is
checked with the same reading requests sends with, and each new connection
resolves the host once, checks every answer, connects to a checked address
and verifies the peer before a byte is sent. Nothing is cached beyond the
connection, so a changed DNS answer is seen at the next connection. Response
bodies are read only up to a small cap: an attempt keeps an excerpt, never a
partner's multi-megabyte error page.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from syndication import USER_AGENT
from syndication.errors import AddressRefused
from syndication.partners import address

EXCERPT_BYTES = 2048
_READ_CAP = 64 * 1024
_sessions: dict[tuple, requests.Session] = {}
_sessions_lock = threading.Lock()


@lru_cache(maxsize=16)
def tls_context(ca_bundle: str) -> ssl.SSLContext:
    """The process's SSL context for a CA bundle: built once, shared by every TLS connection."""
    return ssl.create_default_context(cafile=None if os.path.isdir(ca_bundle) else ca_bundle,
                                      capath=ca_bundle if os.path.isdir(ca_bundle) else None)


@dataclass(frozen=True)
class Response:
    status: int | None  # None: no HTTP response (timeout, refused, reset, address refused)
    headers: dict[str, str]
    excerpt: str
    latency: float
    error: str | None = None
    permanent: bool = False  # our side cannot send this (address refused, cannot render): no retry

    @property
    def timed_out(self) -> bool:
        """No answer within the partner's timeouts: it may be hanging (its concurrency is cut to 1)."""
        return self.status is None and (self.error or "").startswith("timeout")


class _CheckedConnect:
    """urllib3 connection mixin: resolve once, check, connect to the checked address.

    Replaces urllib3's create_connection (which would resolve again). The
    host stays the URL's hostname, so the Host header, TLS SNI and the
    certificate check are unchanged; only the socket's address is pinned.
    """

    resolver = staticmethod(socket.getaddrinfo)
    check_addresses = True  # False for partners with allow_private_network: URL rules only

    def _new_conn(self) -> socket.socket:
        try:
            answers = address.resolve(self._dns_host, self.port, self.resolver, allowed_gai_family(),
                                      self.check_addresses)
            sock = self._connect_first(answers)
        except socket.gaierror as e:  # EAI_AGAIN, EAI_NONAME: retryable, never a refusal
            raise NameResolutionError(self.host, self, e) from e
        except TimeoutError as e:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                            f"(connect timeout={self.timeout})") from e
        except OSError as e:
            raise NewConnectionError(self, f"Failed to establish a new connection: {e}") from e
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock

    def _connect_first(self, answers: list[tuple]) -> socket.socket:
        err: OSError | None = None
        for family, kind, proto, _, sockaddr in answers:
            sock = socket.socket(family, kind, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if self.timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
                address.check_peer(sock, (family, kind, proto, "", sockaddr), self.check_addresses)
                return sock
            except OSError as e:
                sock.close()
                err = e
            except BaseException:
                sock.close()
                raise
        raise err or OSError("no address to connect to")


class GuardedHTTPConnection(_CheckedConnect, HTTPConnection):
    pass


class GuardedHTTPSConnection(_CheckedConnect, HTTPSConnection):
    pass


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections go through the guard (`check`) with `resolver`."""

    def __init__(self, *, check: bool = True, resolver=socket.getaddrinfo, **kwargs):
        # urllib3 builds connections from classes, not instances: bind the settings in subclasses.
        attrs = {"check_addresses": check, "resolver": staticmethod(resolver)}
        plain = type("GuardedHTTPConnection", (GuardedHTTPConnection,), attrs)
        tls = type("GuardedHTTPSConnection", (GuardedHTTPSConnection,), attrs)
        self.check_addresses = check
        self._pools = {"http": type("GuardedPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
                       "https": type("GuardedTLSPool", (HTTPSConnectionPool,), {"ConnectionCls": tls})}
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        """TLS with verification: the process's shared context for the CA bundle, not a new one per connection."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params["scheme"] == "https" and verify and cert is None:
            bundle = verify if isinstance(verify, str) else requests.utils.DEFAULT_CA_BUNDLE_PATH
            pool_kwargs = {"ssl_context": tls_context(bundle), "cert_reqs": "CERT_REQUIRED"}
        return host_params, pool_kwargs

    def cert_verify(self, conn, url, verify, cert):
        super().cert_verify(conn, url, verify, cert)
        if url.lower().startswith("https") and verify and cert is None:
            conn.ca_certs = conn.ca_cert_dir = None  # in the shared context already: urllib3 would load them again

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools

    def proxy_manager_for(self, proxy, **kwargs):
        # Through a proxy the connection is to the proxy, and the proxy resolves the partner's
        # host: the guard would check the wrong address. Refuse rather than go unguarded.
        if self.check_addresses:
            raise AddressRefused("an HTTP(S) proxy is configured (environment): the address guard "
                                 "cannot check where it connects; unset it or set allow_private_network")
        return super().proxy_manager_for(proxy, **kwargs)


def session_for(partner, resolver=None) -> requests.Session:
    """The partner's session in this process, shared by every pusher (requests' connection pools are
    thread-safe); a partner entry changed by a reload (url, max_in_flight, ...) gets a new one."""
    resolver = resolver or socket.getaddrinfo
    key = (partner.id, partner.url, partner.allow_private_network, partner.max_in_flight, resolver)
    s = _sessions.get(key)
    if s is not None:
        return s
    with _sessions_lock:
        s = _sessions.get(key)
        if s is None:
            for old in [k for k in _sessions if k[0] == partner.id and k[-1] is resolver]:
                del _sessions[old]  # the entry before a reload: its pushes have finished or will soon
            s = _sessions[key] = _new_session(partner, resolver)
    return s


def _new_session(partner, resolver) -> requests.Session:
    s = requests.Session()
    # One connection per request in flight, kept alive; never blocks (the partner's slots bound
    # its requests in flight, so the pool is never short of one).
    size = max(2, partner.max_in_flight)
    for prefix in ("http://", "https://"):
        s.mount(prefix, GuardedAdapter(check=not partner.allow_private_network, resolver=resolver,
                                       pool_connections=1, pool_maxsize=size, max_retries=0))
    s.headers["User-Agent"] = USER_AGENT
    # The environment (proxies, CA bundle) is read once, here, not on every request: requests
    # would otherwise walk os.environ twice per POST, a third of a push's CPU. It still counts:
    # a proxy for the partner's URL reaches GuardedAdapter, which refuses it unless allowed.
    s.trust_env = False
    s.proxies.update(requests.utils.get_environ_proxies(partner.url))
    s.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return s


def send(partner, body: bytes, headers: dict[str, str], resolver=None) -> Response:
    """POST one push; `resolver` (default socket.getaddrinfo) is injectable for tests."""
    started = time.perf_counter()
    try:
        address.check_url(partner.url)  # checked at load too; a Partner can be built without validation
    except ValueError as exc:
        return Response(None, {}, "", time.perf_counter() - started, f"url refused: partner {partner.id}: {exc}",
                        permanent=True)
    try:
        resp = session_for(partner, resolver).post(
            partner.url, data=body, headers=headers, stream=True,
            timeout=(partner.timeouts.connect, partner.timeouts.read), allow_redirects=False,
        )
    except AddressRefused as exc:
        return Response(None, {}, "", time.perf_counter() - started,
                        f"address refused: partner {partner.id}: {exc}", permanent=True)
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
