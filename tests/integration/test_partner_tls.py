"""Partners over TLS with a CA of their own and our client certificate (mutual TLS), on real processes.

A throwaway PKI (trustme): the partners' server CA, a client CA that signs our certificate, and a
stranger CA nobody uses. Three HTTPS partner servers on 127.0.0.1 (tests/support/receiver.py with
a server context) require a client certificate signed by the client CA (ssl.CERT_REQUIRED):

    agency      trusts the server CA, presents our certificate       -> receives, sees our certificate
    untrusted   trusts the stranger CA, presents our certificate     -> our side refuses the server
    anonymous   trusts the server CA, presents no certificate        -> the server refuses us

The partners file names its TLS files relative to itself (certs/...). Every failure is recorded
as an attempt naming the cause's class, retried, and nothing is delivered; no attempt names a path.
`config check` refuses a missing, unreadable or mismatched file in one line naming partner and field.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys

import pytest
import trustme
import yaml

from syndication.configuration import load_settings
from syndication.delivery import http as delivery_http, records
from syndication.infra.context import Context
from syndication.partners.target import Target
from tests.conftest import API_KEY
from tests.support import logscan
from tests.support.events import article_event, post_all
from tests.support.processes import api, free_port, private_env, running, wait_for, worker
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration
OUR_NAME = "syndication.newsroom.example"  # the name in our client certificate
FAST_RETRY = {"base_delay": 0.3, "max_delay": 0.6}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The CAs, our client certificate and the partners' server context, written under <dir>/certs."""
    base = tmp_path_factory.mktemp("tls")
    certs = base / "certs"
    certs.mkdir()
    server_ca, client_ca, stranger_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server, ours, other = server_ca.issue_cert("127.0.0.1"), client_ca.issue_cert(OUR_NAME), client_ca.issue_cert("x")
    server_ca.cert_pem.write_to_path(certs / "server-ca.pem")
    stranger_ca.cert_pem.write_to_path(certs / "stranger-ca.pem")
    ours.cert_chain_pems[0].write_to_path(certs / "client.pem")
    ours.private_key_pem.write_to_path(certs / "client.key")
    other.private_key_pem.write_to_path(certs / "other.key")

    def server_context() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.configure_cert(ctx)
        client_ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED  # no certificate from our CA, no request
        return ctx

    logscan.forbid(str(certs), "the TLS files' directory")  # no process logs where the key lives
    return {"dir": base, "certs": certs, "server_context": server_context}


def _tls(ca: str, client: bool = True) -> dict:
    return {"ca_file": f"certs/{ca}", **({"client_cert": "certs/client.pem", "client_key": "certs/client.key"}
                                          if client else {})}


@pytest.fixture(scope="module")
def tls_service(pki, redis_url):
    tmp = pki["dir"]
    receivers = {n: Receiver.start(tls=pki["server_context"]()) for n in ("agency", "untrusted", "anonymous")}
    common = {"format": "json", "allow_private_network": True, "breaker_threshold": 1000, "retry": FAST_RETRY}
    partners = [{"id": "agency", "url": receivers["agency"].url, "tls": _tls("server-ca.pem"), **common},
                {"id": "untrusted", "url": receivers["untrusted"].url, "tls": _tls("stranger-ca.pem"), **common},
                {"id": "anonymous", "url": receivers["anonymous"].url, "tls": _tls("server-ca.pem", client=False),
                 **common}]
    partners_file = tmp / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": partners}))
    port = free_port()
    env = private_env(redis_url, port, partners_file, "tls", SYNDICATION_API_KEYS=API_KEY)
    ctx = Context.build(load_settings(env))
    with running([api(env, tmp, port), worker("events", env, tmp), worker("deliveries", env, tmp)],
                 receivers.values()):
        yield {"url": f"http://127.0.0.1:{port}", "ctx": ctx, "receivers": receivers, "env": env}


def _failed_twice(ctx, article_id: str, partner_id: str) -> list[dict]:
    def two():
        found = records.attempts(ctx, records.delivery_id(article_id, 1, partner_id))
        return found if len(found) >= 2 else None
    return wait_for(two, timeout=20, what=f"two attempts to {partner_id}")


def test_a_push_reaches_an_mtls_partner_that_sees_our_client_certificate(tls_service, unique):
    agency = tls_service["receivers"]["agency"]
    ids = [f"tls-{unique}-{i}" for i in range(3)]
    post_all(tls_service["url"], [article_event(a) for a in ids], API_KEY)
    wait_for(lambda: all(agency.for_article(a) for a in ids), timeout=20, what="every push at agency")
    for a in ids:
        [req] = agency.for_article(a)
        assert ("DNS", OUR_NAME) in req.peer_cert["subjectAltName"]  # the server verified *our* certificate
    assert agency.tls_refused == 0
    assert agency.connections <= 2  # max_in_flight 2: kept-alive TLS connections, not one per push


@pytest.mark.parametrize("partner_id, cause", [
    ("untrusted", "SSLError: certificate verify failed: "),  # our side refuses the partner's server
    ("anonymous", "SSLError: handshake failed: "),  # the partner's server refuses us: no client certificate
])
def test_a_tls_failure_is_recorded_by_its_cause_retried_and_delivers_nothing(tls_service, pki, unique,
                                                                             partner_id, cause):
    ctx, server = tls_service["ctx"], tls_service["receivers"][partner_id]
    aid = f"tls-{unique}"
    post_all(tls_service["url"], [article_event(aid)], API_KEY)
    for attempt in _failed_twice(ctx, aid, partner_id):
        assert attempt["error"].startswith(cause), attempt
        assert str(pki["dir"]) not in attempt["error"] and ".pem" not in attempt["error"], attempt
    assert records.get(ctx, records.delivery_id(aid, 1, partner_id))["status"] != "delivered"
    assert server.requests == [] and server.tls_refused >= 2  # every handshake failed, no request got through


def test_the_address_guard_still_checks_where_a_tls_partner_connects(pki):
    """A TLS partner is no exception to the SSRF guard: loopback without allow_private_network is refused
    before any handshake."""
    server = Receiver.start(tls=pki["server_context"]())
    try:
        certs = pki["certs"]
        partner = Target(id="guarded", url=server.url, tls={"ca_file": str(certs / "server-ca.pem"),
                                                             "client_cert": str(certs / "client.pem"),
                                                             "client_key": str(certs / "client.key")})
        resp = delivery_http.send(partner, b"{}", {"Content-Type": "application/json"})
        assert resp.permanent and "non-public address 127.0.0.1" in resp.error
        assert server.connections == 0
    finally:
        server.stop()


def test_one_ssl_context_per_set_of_files_per_process_and_a_rotated_certificate_gets_its_own(pki, tmp_path):
    """Contexts are built once per (CA file, certificate, key, contents), never per partner or
    request; a certificate rotated under the same path (then a reload) is a new set."""
    from syndication.delivery.tls import tls_context
    from syndication.partners.registry import load_partners

    server = Receiver.start(tls=pki["server_context"]())
    try:
        shutil.copytree(pki["certs"], tmp_path / "certs")
        partners_file = tmp_path / "partners.yaml"
        entry = {"url": server.url, "allow_private_network": True, "tls": _tls("server-ca.pem")}
        partners_file.write_text(yaml.safe_dump({"partners": [{"id": "one", **entry}, {"id": "two", **entry}]}))
        one, two = (p.target for p in load_partners(partners_file))  # deliveries go to targets
        before = tls_context.cache_info().misses
        for p in (one, two, one, two, one):
            assert delivery_http.send(p, b"{}", {"Content-Type": "application/json"}).status == 200
        assert tls_context.cache_info().misses == before + 1  # two partners, five pushes: one context
        assert delivery_http.transport_for(one).context() is delivery_http.transport_for(two).context()
        assert server.connections == 2  # one kept-alive connection per partner
        other = trustme.CA().issue_cert("rotated")  # a new certificate and key under the same paths
        other.cert_chain_pems[0].write_to_path(tmp_path / "certs" / "client.pem")
        other.private_key_pem.write_to_path(tmp_path / "certs" / "client.key")
        [rotated, _] = (p.target for p in load_partners(partners_file))
        assert rotated.tls.model_dump() == one.tls.model_dump() and rotated.tls.digest != one.tls.digest
        assert delivery_http.transport_for(rotated).context() is not delivery_http.transport_for(one).context()
    finally:
        server.stop()


def _check(pki, tmp_path, tls: dict) -> subprocess.CompletedProcess:
    shutil.copytree(pki["certs"], tmp_path / "certs")
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": [
        {"id": "agency", "url": "https://push.agency.example/in", "allow_private_network": True, "tls": tls}]}))
    env = private_env("redis://127.0.0.1:7000/0", 7000, partners_file, "check")
    return subprocess.run([sys.executable, "-m", "syndication.cli", "config", "check", "--offline"], env=env,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("tls, field, problem", [
    ({"ca_file": "certs/missing.pem"}, "tls.ca_file", "cannot read"),
    ({"ca_file": "certs"}, "tls.ca_file", "cannot read"),  # a directory: not a readable file
    ({"ca_file": "certs/client.key"}, "tls.ca_file", "holds no PEM certificate"),
    ({"client_cert": "certs/client.pem", "client_key": "certs/gone.key"}, "tls.client_key", "cannot read"),
    ({"client_cert": "certs/client.pem", "client_key": "certs/other.key"}, "tls.client_key",
     "does not match client_cert"),
    ({"client_cert": "certs/client.key", "client_key": "certs/client.key"}, "tls.client_cert", "is not a PEM certificate"),
    ({"client_cert": "certs/client.pem"}, "tls.client_cert", "is not a PEM certificate"),  # no key anywhere
    ({"client_key": "certs/client.key"}, "tls", "client_key: needs client_cert"),
])
def test_config_check_refuses_tls_files_it_cannot_use_naming_partner_and_field(pki, tmp_path, tls, field, problem):
    done = _check(pki, tmp_path, tls)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "agency" in line and f"{field}:" in line and problem in line, line


def test_config_check_accepts_a_complete_tls_entry(pki, tmp_path):
    done = _check(pki, tmp_path, _tls("server-ca.pem"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "agency: json -> https://push.agency.example/in [none] [tls: ca_file + client_cert] [no rate limit] ok" in done.stdout
