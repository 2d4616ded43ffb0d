"""The SSRF guard on partner URLs, against a real HTTP server on 127.0.0.1.

Every refusal is checked where it matters: the loopback server accepted no
connection, and no socket connected anywhere. A process-wide audit hook
records every socket.connect() while these tests run and stops any connect
to a non-loopback address before it leaves the machine, so a broken guard
fails a test instead of sending traffic to the addresses named here.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from syndication.delivery import http as delivery_http
from syndication.errors import AddressRefused
from syndication.partners.target import Target, Timeouts, check_address
from tests.unit.test_address_rules import BAD_SHAPES, PUBLIC

CONNECTS: list[str] = []  # every socket.connect() target while a test runs
_FENCE = {"on": False}


def _audit(event, args):
    if event == "socket.connect" and _FENCE["on"] and isinstance(args[1], tuple):
        host = str(args[1][0])
        CONNECTS.append(host)
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise ConnectionRefusedError(f"test fence: no traffic to {host}")


if not getattr(sys, "_ssrf_test_hook", False):  # audit hooks cannot be removed: install once
    sys.addaudithook(_audit)
    sys._ssrf_test_hook = True


class Counting(ThreadingHTTPServer):
    """Counts connections as they are accepted (in the serving thread) and records requests."""

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.accepted, self.requests, self.sni = 0, [], []
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls:
            tls.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def process_request(self, request, client_address):
        self.accepted += 1
        super().process_request(request, client_address)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def settled(self) -> int:
        """Connections accepted before now: a probe after them drains the (FIFO) accept queue."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request("POST", "/probe", body=b"")
        conn.getresponse().read()
        conn.close()
        return self.accepted - 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.path, self.headers.get("Host"), body))
        self.send_response(200)
        if self.path == "/close":
            self.send_header("Connection", "close")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture(autouse=True)
def fence():
    CONNECTS.clear()
    _FENCE["on"] = True
    yield
    _FENCE["on"] = False


@pytest.fixture
def server():
    srv = Counting()
    yield srv
    srv.shutdown()
    srv.server_close()


def resolver(*rounds: list[str]):
    """A resolver answering `rounds[i]` on call i (the last round repeats); records calls."""
    calls = []

    def resolve(host, port, family=0, type=0, proto=0, flags=0):
        calls.append(host)
        ips = rounds[min(len(calls), len(rounds)) - 1]
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (ip, port, 0, 0) if ":" in ip else (ip, port)) for ip in ips]
    resolve.calls = calls
    return resolve


def partner(url: str, private: bool = False, validate: bool = True) -> Target:
    """A partner's target with a fresh id (so a fresh session); validate=False skips the load-time URL check."""
    fields = {"id": f"p{uuid.uuid4().hex[:10]}", "url": url, "allow_private_network": private,
              "timeouts": Timeouts(connect=2, read=5)}
    return Target(**fields) if validate else Target.model_construct(**fields)


def send(p: Target, resolve=None) -> delivery_http.Response:
    return delivery_http.send(p, b'{"a":1}', {"Content-Type": "application/json"}, resolver=resolve)


@pytest.mark.parametrize("url,problem", BAD_SHAPES)
def test_bad_url_shapes_refused_at_send_even_for_private_partners(server, url, problem):
    resp = send(partner(url.format(port=server.port), private=True, validate=False))
    assert resp.permanent and resp.status is None and "url refused" in resp.error and problem in resp.error
    assert CONNECTS == []
    assert server.settled() == 0


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/", "http://127.1:{port}/", "http://0.0.0.0:{port}/", "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/", "http://[2002:7f00:1::1]:{port}/", "http://[::7f00:1]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/", "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}/",
    "http://100.64.0.1:{port}/", "http://169.254.169.254/latest/meta-data/", "http://100.100.100.200/",
])
def test_non_public_literals_refused_before_connecting(server, url):
    resp = send(partner(url.format(port=server.port)))
    assert resp.permanent and resp.status is None and "non-public address" in resp.error
    assert CONNECTS == []
    assert server.settled() == 0


@pytest.mark.parametrize("answers", [["127.0.0.1"], ["::1"], ["::ffff:127.0.0.1"], [PUBLIC, "127.0.0.1"],
                                     ["127.0.0.1", PUBLIC], ["2606:4700::1111", "::1"]])
def test_any_non_public_answer_refuses_before_any_connect(server, answers):
    resolve = resolver(answers)
    resp = send(partner(f"http://partner.example:{server.port}/in"), resolve)
    assert resp.permanent and resp.status is None and "non-public address" in resp.error
    assert CONNECTS == []  # not even the public answer: nothing connects until every answer passed
    assert server.settled() == 0
    with pytest.raises(AddressRefused, match="non-public"):
        check_address(partner(f"http://partner.example:{server.port}/in"), resolve)


def test_dns_rebinding_checks_the_resolution_it_connects_with(server):
    resolve = resolver([PUBLIC], ["127.0.0.1"])
    p = partner(f"http://rebind.example:{server.port}/in")
    first = send(p, resolve)
    # One resolution, public: the connect went to that address (stopped by the test fence), never
    # to a second answer fetched after the check.
    assert resolve.calls == ["rebind.example"] and CONNECTS == [PUBLIC]
    assert first.status is None and not first.permanent
    second = send(p, resolve)  # the name now points at loopback: checked again, refused
    assert second.permanent and "non-public address 127.0.0.1" in second.error
    assert len(resolve.calls) == 2 and CONNECTS == [PUBLIC]
    assert server.settled() == 0


@pytest.mark.parametrize("code", [socket.EAI_AGAIN, socket.EAI_NONAME])
def test_resolution_failure_is_retryable_not_refused(server, code):
    def failing(*args, **kwargs):
        raise socket.gaierror(code, "Temporary failure in name resolution")

    resp = send(partner(f"http://flaky.example:{server.port}/in"), failing)
    assert resp.status is None and not resp.permanent and "NameResolution" in resp.error
    with pytest.raises(socket.gaierror):
        check_address(partner(f"http://flaky.example:{server.port}/in"), failing)
    assert CONNECTS == []


def test_private_partner_reaches_loopback_and_keeps_the_connection(server):
    p = partner(f"http://127.0.0.1:{server.port}/in", private=True)
    assert [send(p).status for _ in range(2)] == [200, 200]
    assert server.accepted == 1 and len(server.requests) == 2


def test_private_partner_by_name_sends_its_host_and_resolves_per_connection(server):
    resolve = resolver(["127.0.0.1"])
    keep = partner(f"http://partner.test:{server.port}/in", private=True)
    assert [send(keep, resolve).status for _ in range(2)] == [200, 200]
    assert len(resolve.calls) == 1  # one connection, one resolution
    assert [r[1] for r in server.requests] == [f"partner.test:{server.port}"] * 2
    closing = partner(f"http://partner.test:{server.port}/close", private=True)
    assert [send(closing, resolve).status for _ in range(2)] == [200, 200]
    assert len(resolve.calls) == 3  # the connection closed: nothing about it is remembered


def test_tls_uses_the_hostname_for_sni_and_certificate(tmp_path, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # they would replace the session's verify
        monkeypatch.delenv(name, raising=False)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=partner.test", "-addext", "subjectAltName=DNS:partner.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = Counting(tls=ctx)
    try:
        resolve = resolver(["127.0.0.1"])
        p = partner(f"https://partner.test:{srv.port}/in", private=True)
        delivery_http.transport_for(p, resolve).verify = str(cert)
        assert send(p, resolve).status == 200
        assert srv.sni == ["partner.test"] and srv.requests[0][1] == f"partner.test:{srv.port}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_proxy_from_the_environment_is_refused_for_guarded_partners(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    resp = send(partner("http://partner.example/in"), resolver([PUBLIC]))
    assert resp.permanent and "proxy" in resp.error
    assert CONNECTS == [] and server.settled() == 0


def test_turning_allow_private_network_off_takes_effect_for_the_same_partner(server):
    url = f"http://127.0.0.1:{server.port}/in"
    allowed_once = partner(url, private=True)
    assert send(allowed_once).status == 200
    refused = send(allowed_once.model_copy(update={"allow_private_network": False}))
    assert refused.permanent and "non-public address 127.0.0.1" in refused.error
    assert server.settled() == 1
