"""Sending one push over HTTP: one keep-alive connection pool per partner per process, shared by its pushers.

Pushes go through urllib3 directly (installed with requests), on a pool per partner: measured on
this machine, a keep-alive POST costs 264 us of CPU through urllib3 against 642 us through a
requests.Session (which merges settings, hooks, cookies and environment on every request), and
at hundreds of pushes a second that difference is a third of a delivery's cost. A partner whose
URL an environment proxy covers goes through requests (`session_for`), which knows proxies; the
guard refuses that unless the partner allows private networks.

A partner's pool keeps up to `max_in_flight` connections (requests' default keeps 10 and
discards the rest: STACK.md, trap 15), so its concurrent pushes each reuse a kept-alive
connection; TLS connections share one SSL context per CA bundle and client certificate per
process (tls.py), verified always: the partner's `tls.ca_file` if it names one, else
REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, as for requests (trap 16), else requests' bundle; with
`tls.client_cert` the partner sees our certificate (mutual TLS).

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

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NameResolutionError, NewConnectionError, ReadTimeoutError
from urllib3.util.connection import allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from syndication import USER_AGENT
from syndication.errors import AddressRefused
from syndication.delivery.tls import tls_context, tls_failure
from syndication.partners import address

EXCERPT_BYTES = 2048
_READ_CAP = 64 * 1024
_transports: dict[tuple, "Transport"] = {}
_transports_lock = threading.Lock()


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

    def __init__(self, *, check: bool = True, resolver=socket.getaddrinfo, context: ssl.SSLContext | None = None,
                 **kwargs):
        # urllib3 builds connections from classes, not instances: bind the settings in subclasses.
        attrs = {"check_addresses": check, "resolver": staticmethod(resolver)}
        plain = type("GuardedHTTPConnection", (GuardedHTTPConnection,), attrs)
        tls = type("GuardedHTTPSConnection", (GuardedHTTPSConnection,), attrs)
        self.check_addresses = check
        self.context = context  # the partner's (its CA file, our client certificate), else per CA bundle
        self._pools = {"http": type("GuardedPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
                       "https": type("GuardedTLSPool", (HTTPSConnectionPool,), {"ConnectionCls": tls})}
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        """TLS with verification: the process's shared context for the CA bundle, not a new one per connection."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params["scheme"] == "https" and verify and cert is None:
            bundle = verify if isinstance(verify, str) else requests.utils.DEFAULT_CA_BUNDLE_PATH
            pool_kwargs = {"ssl_context": self.context or tls_context(bundle), "cert_reqs": "CERT_REQUIRED"}
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


class Transport:
    """One partner's pushes in this process: a urllib3 pool of guarded keep-alive connections, or
    requests when an environment proxy covers its URL. `verify`: True (the CA bundle), a path, or False."""

    def __init__(self, partner, resolver):
        self.partner, self.resolver = partner, resolver
        url = urllib3.util.parse_url(partner.url)
        self.scheme, self.host, self.port, self.target = url.scheme, url.host, url.port, url.request_uri
        # The environment is read once, here, not on every request (requests read it twice per POST).
        self.proxied = requests.utils.select_proxy(partner.url, requests.utils.get_environ_proxies(partner.url))
        self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.session: requests.Session | None = None
        self._pool: HTTPConnectionPool | None = None
        self._lock = threading.Lock()

    def pool(self) -> HTTPConnectionPool:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = self._new_pool()
        return self._pool

    def _new_pool(self) -> HTTPConnectionPool:
        # urllib3 builds connections from classes, not instances: bind the guard's settings in subclasses.
        attrs = {"check_addresses": not self.partner.allow_private_network, "resolver": staticmethod(self.resolver)}
        options = dict(maxsize=max(2, self.partner.max_in_flight), block=False, retries=False,
                       headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
        if self.scheme != "https":
            conn = type("GuardedHTTPConnection", (GuardedHTTPConnection,), attrs)
            return type("GuardedPool", (HTTPConnectionPool,), {"ConnectionCls": conn})(self.host, self.port, **options)
        conn = type("GuardedHTTPSConnection", (GuardedHTTPSConnection,), attrs)
        if self.verify is False:
            options.update(cert_reqs="CERT_NONE", assert_hostname=False)
        else:
            options.update(ssl_context=self.context(), cert_reqs="CERT_REQUIRED")
        return type("GuardedTLSPool", (HTTPSConnectionPool,), {"ConnectionCls": conn})(self.host, self.port, **options)

    def context(self) -> ssl.SSLContext:
        """The process's shared SSL context for this partner's trust and client certificate: the
        partner's CA file, else the bundle (REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else requests')."""
        tls = self.partner.tls  # its CA file and our client certificate (partners/tls.py), or None
        bundle = self.verify if isinstance(self.verify, str) else requests.utils.DEFAULT_CA_BUNDLE_PATH
        try:
            if tls is None:
                return tls_context(bundle)
            return tls_context(tls.ca_file or bundle, tls.client_cert, tls.client_key, tls.digest)
        except (OSError, ValueError):
            # Checked when the partners file was loaded; gone or changed since. The attempt says
            # what kind of thing failed, never the paths (they are the operator's, not history's).
            raise urllib3.exceptions.SSLError("cannot load the partner's CA file or client certificate "
                                              "(`syndication config check` names the problem)") from None

    def post(self, body: bytes, headers: dict[str, str], method: str = "POST",
             query: str = "") -> tuple[int, dict[str, str], bytes]:
        """POST (or `method`, with `query` added to the URL's: a WebSub verification GET) and read the
        answer up to the cap: (status, headers, body read). Raises on no answer."""
        timeouts = self.partner.timeouts
        if self.proxied:
            return self._post_proxied(body, headers, method, query)
        target = _with_query(self.target, query)
        resp = self.pool().urlopen(method, target, body=body or None, headers={**self.pool().headers, **headers},
                                   retries=False, redirect=False, preload_content=False, assert_same_host=False,
                                   timeout=urllib3.Timeout(connect=timeouts.connect, read=timeouts.read))
        try:
            content = resp.read(_READ_CAP + 1, decode_content=True)
        except (HTTPError, OSError) as exc:
            content = f"<body unreadable: {type(exc).__name__}>".encode()
            resp.close()
        else:
            if len(content) > _READ_CAP:
                resp.close()  # too big to drain: this connection is dropped, not reused
        finally:
            resp.release_conn()
        return resp.status, dict(resp.headers), content

    def _post_proxied(self, body: bytes, headers: dict[str, str], method: str = "POST",
                      query: str = "") -> tuple[int, dict[str, str], bytes]:
        if self.session is None:
            self.session = _proxied_session(self.partner, self.resolver, self.verify,
                                            self.context() if self.scheme == "https" and self.verify else None)
        resp = self.session.request(method, _with_query(self.partner.url, query), data=body or None, headers=headers,
                                    stream=True, allow_redirects=False,
                                    timeout=(self.partner.timeouts.connect, self.partner.timeouts.read))
        chunks, size = [], 0
        try:
            for chunk in resp.iter_content(8192):
                chunks.append(chunk)
                size += len(chunk)
                if size > _READ_CAP:
                    break
        except (requests.RequestException, OSError) as exc:
            chunks.append(f"<body unreadable: {type(exc).__name__}>".encode())
        finally:
            resp.close()
        return resp.status_code, dict(resp.headers), b"".join(chunks)


def transport_for(partner, resolver=None) -> Transport:
    """The partner's transport in this process, shared by every pusher (urllib3's pools are
    thread-safe); a partner entry changed by a reload (url, max_in_flight, ...) gets a new one."""
    resolver = resolver or socket.getaddrinfo
    key = (partner.id, partner.url, partner.allow_private_network, partner.max_in_flight, partner.timeouts,
           partner.tls, partner.tls.digest if partner.tls else "", resolver)
    t = _transports.get(key)
    if t is not None:
        return t
    with _transports_lock:
        t = _transports.get(key)
        if t is None:
            for old in [k for k in _transports if k[0] == partner.id and k[-1] is resolver]:
                del _transports[old]  # the entry before a reload: its pushes have finished or will soon
            t = _transports[key] = Transport(partner, resolver)
    return t


def _proxied_session(partner, resolver, verify, context: ssl.SSLContext | None) -> requests.Session:
    """requests, for a partner an environment proxy covers: GuardedAdapter refuses the proxy unless
    the partner allows private networks (the guard cannot check where a proxy connects)."""
    s = requests.Session()
    for prefix in ("http://", "https://"):
        s.mount(prefix, GuardedAdapter(check=not partner.allow_private_network, resolver=resolver, context=context,
                                       pool_connections=1, pool_maxsize=max(2, partner.max_in_flight), max_retries=0))
    s.headers["User-Agent"] = USER_AGENT
    s.trust_env = False
    s.proxies.update(requests.utils.get_environ_proxies(partner.url))
    s.verify = verify
    return s


def _with_query(url: str, query: str) -> str:
    """`url` with `query` appended to any query it has (WebSub: the callback's own query is kept)."""
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _error_text(exc: BaseException) -> str:
    """`Kind: cause`, the cause being urllib3's own error: a retry wrapper's text (requests'
    ConnectionError, urllib3's MaxRetryError) quotes the request path, where a partner URL may
    carry a token, and is cut before the cause at 300. A TLS failure reads `SSLError: ...` (tls.py)."""
    tls = tls_failure(exc)
    if tls:
        return tls
    cause = exc.args[0] if isinstance(exc, requests.RequestException) and exc.args else exc
    cause = getattr(cause, "reason", None) or cause
    if cause is exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    # The cause's class first (NameResolutionError, NewConnectionError, ...): what ops read and
    # `notices.failure_of` classifies, and it is never cut off.
    kind = f"{type(cause).__name__}: " if isinstance(cause, BaseException) else ""
    return f"{type(exc).__name__}: {kind}{cause}"[:300]


def send(partner, body: bytes, headers: dict[str, str], resolver=None, *, method: str = "POST",
         query: str = "") -> Response:
    """POST one push (or `method` with `query`); `resolver` (default socket.getaddrinfo) is injectable for tests."""
    started = time.perf_counter()
    try:
        address.check_url(partner.url)  # checked at load too; a Partner can be built without validation
    except ValueError as exc:
        return Response(None, {}, "", time.perf_counter() - started, f"url refused: partner {partner.id}: {exc}",
                        permanent=True)
    try:
        status, answer_headers, content = transport_for(partner, resolver).post(body, headers, method, query)
    except AddressRefused as exc:
        return Response(None, {}, "", time.perf_counter() - started,
                        f"address refused: partner {partner.id}: {exc}", permanent=True)
    except (HTTPError, OSError, requests.RequestException) as exc:
        # urllib3's NewConnectionError (refused, name not resolved) is a ConnectTimeoutError by
        # inheritance only: not a timeout.
        if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError, requests.Timeout)) \
                and not isinstance(exc, NewConnectionError):
            kind = "ConnectTimeout" if isinstance(exc, (ConnectTimeoutError, requests.ConnectTimeout)) else "ReadTimeout"
            return Response(None, {}, "", time.perf_counter() - started, f"timeout: {kind}")
        return Response(None, {}, "", time.perf_counter() - started, _error_text(exc))
    latency = time.perf_counter() - started
    return Response(status, answer_headers, content[:EXCERPT_BYTES].decode("utf-8", "replace"), latency)
