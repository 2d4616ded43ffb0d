"""W3C Trace Context from the newsroom to the partner (issue 26 item 3), on real processes.

The API, the events and deliveries workers (the session's redis-server, a key prefix of this
module's own), a partner server (`wire`) and an ops webhook server. A publisher's `traceparent`
on `POST /v1/events` is continued by every push of that event: the same trace id, a valid
header per the spec, a span id of its own per attempt (a first attempt and a retry after a 500),
`tracestate` passed on. An invalid or missing `traceparent` starts a new trace, never an error.
The ops webhook's notice about a dead delivery carries that delivery's trace too, and delivery
history (the API's delivery routes) shows the trace id and each attempt's `traceparent`.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests
import yaml

from tests.conftest import API_KEY, OPS_KEY
from tests.support.events import article_event
from tests.support.processes import api, free_port, private_env, running, wait_for, worker
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.integration
# The spec's version 00 format; ids all zero are invalid (section 3.2.2).
TRACEPARENT = re.compile(r"00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-([0-9a-f]{2})")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PUBLISHER_SPAN = "00f067aa0ba902b7"
RETRY = {"base_delay": 0.2, "max_delay": 0.5, "max_attempts": 3}


class Service:
    def __init__(self, url: str, wire: Receiver, ops: Receiver):
        self.url, self.wire, self.ops = url, wire, ops

    def post(self, event: dict, **headers: str) -> requests.Response:
        return requests.post(f"{self.url}/v1/events", data=json.dumps(event), timeout=10, headers={
            "Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json", **headers})

    def delivery(self, aid: str) -> dict | None:
        resp = requests.get(f"{self.url}/v1/deliveries", params={"article_id": aid}, timeout=5,
                            headers={"Authorization": f"Bearer {OPS_KEY}"})
        assert resp.status_code == 200, resp.text
        found = resp.json()["deliveries"]
        return found[0] if found else None

    def pushes(self, aid: str) -> list:
        return [r for r in self.wire.requests if aid.encode() in r.body]


@pytest.fixture(scope="module")
def service(redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trace")
    wire, ops = Receiver.start(), Receiver.start()
    partners_file = tmp / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": [
        {"id": "wire", "url": wire.url, "format": "json", "allow_private_network": True,
         "filters": {"categories": ["Wire"]}, "retry": RETRY},
        {"id": "strict", "url": f"{wire.url}/strict", "format": "json", "allow_private_network": True,
         "filters": {"categories": ["Strict"]}, "retry": RETRY},
        {"id": "held", "url": f"{wire.url}/held", "format": "json", "allow_private_network": True,
         "filters": {"categories": ["Held"]}, "embargo": "hold", "retry": RETRY}]}))
    port = free_port()
    env = private_env(redis_url, port, partners_file, f"trc{uuid.uuid4().hex[:6]}", SYNDICATION_API_KEYS=API_KEY,
                      SYNDICATION_OPS_KEYS=OPS_KEY, SYNDICATION_OPS_WEBHOOK_URL=ops.url,
                      SYNDICATION_OPS_WEBHOOK_SECRET="whsec_" + "dHJhY2UtY29udGV4dC10ZXN0LXNlY3JldC0wMTIzNA==")
    with running([api(env, tmp, port), worker("events", env, tmp), worker("deliveries", env, tmp)], (wire, ops)):
        yield Service(f"http://127.0.0.1:{port}", wire, ops)


def parts(header: str) -> tuple[str, str, str]:
    match = TRACEPARENT.fullmatch(header)
    assert match, f"not a valid traceparent: {header!r}"
    return match.groups()


@pytest.mark.parametrize("round", [1, 2])  # the first request takes the route, later ones the fast path
def test_every_attempt_continues_the_publishers_trace_with_a_span_of_its_own(service, round):
    aid = f"trace-{round}-{uuid.uuid4().hex[:8]}"
    service.wire.script([500])  # the first attempt fails, the retry is delivered
    resp = service.post(article_event(aid, categories=["Wire"]), traceparent=f"00-{TRACE}-{PUBLISHER_SPAN}-01",
                        tracestate="newsroom=cms7, rojo=00f067aa0ba902b7")
    assert resp.status_code == 202, resp.text
    d = wait_for(lambda: (x := service.delivery(aid)) and x["status"] == "delivered" and x, timeout=30,
                 what="delivered after a retry")
    first, retry = service.pushes(aid)
    assert (first.status_sent, retry.status_sent) == (500, 200)
    spans = set()
    for push in (first, retry):
        trace_id, span_id, flags = parts(push.headers["traceparent"])
        assert trace_id == TRACE and flags == "01"
        assert push.headers["tracestate"] == "newsroom=cms7,rojo=00f067aa0ba902b7"
        spans.add(span_id)
    assert len(spans) == 2 and PUBLISHER_SPAN not in spans  # one span per attempt, none the publisher's
    # History: the delivery's trace id, and each attempt's header as sent.
    assert d["trace_id"] == TRACE
    assert [a["traceparent"] for a in d["attempt_log"]] == [first.headers["traceparent"], retry.headers["traceparent"]]


@pytest.mark.parametrize("header", [
    f"00-{'0' * 32}-{PUBLISHER_SPAN}-01", f"00-{TRACE}-{'0' * 16}-01", f"00-{TRACE.upper()}-{PUBLISHER_SPAN}-01",
    f"ff-{TRACE}-{PUBLISHER_SPAN}-01", "not-a-traceparent", None])
def test_an_invalid_or_missing_traceparent_starts_a_new_trace(service, header):
    aid = f"newtrace-{uuid.uuid4().hex[:8]}"
    extra = {"tracestate": "rojo=1"} | ({"traceparent": header} if header is not None else {})
    resp = service.post(article_event(aid, categories=["Wire"]), **extra)
    assert resp.status_code == 202, resp.text  # ignored, never an error
    push = wait_for(lambda: service.pushes(aid) and service.pushes(aid)[0], timeout=20, what="pushed")
    trace_id, _, _ = parts(push.headers["traceparent"])
    assert trace_id not in (TRACE, "0" * 32)
    assert "tracestate" not in push.headers  # the spec: no tracestate without a valid traceparent
    assert wait_for(lambda: service.delivery(aid))["trace_id"] == trace_id


def test_a_push_at_an_embargos_release_continues_the_trace(service):
    from datetime import datetime, timedelta, timezone

    aid = f"heldtrace-{uuid.uuid4().hex[:8]}"
    instant = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat(timespec="seconds")
    resp = service.post(article_event(aid, categories=["Held"], embargoed=instant),
                        traceparent=f"00-{TRACE}-{PUBLISHER_SPAN}-01")
    assert resp.status_code == 202, resp.text
    push = wait_for(lambda: service.pushes(aid) and service.pushes(aid)[0], timeout=20, what="pushed at release")
    assert parts(push.headers["traceparent"])[0] == TRACE


def test_the_ops_notice_about_a_dead_delivery_carries_its_trace(service):
    aid = f"deadtrace-{uuid.uuid4().hex[:8]}"
    service.wire.script([Reply(400)])  # straight to a dead letter
    resp = service.post(article_event(aid, categories=["Strict"]), traceparent=f"00-{TRACE}-{PUBLISHER_SPAN}-01")
    assert resp.status_code == 202, resp.text

    def notice():
        for r in service.ops.requests:
            body = json.loads(r.body)
            if body["type"] == "delivery.dead" and body["data"].get("article_id") == aid:
                return r
        return None

    r = wait_for(notice, timeout=30, what="delivery.dead notice")
    trace_id, span_id, _ = parts(r.headers["traceparent"])
    pushed = parts(service.pushes(aid)[0].headers["traceparent"])
    assert trace_id == TRACE and span_id not in (PUBLISHER_SPAN, pushed[1])


class Collector:
    """An OTLP/HTTP collector stand-in: keeps every span POSTed to /v1/traces (protobuf)."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest, ExportTraceServiceResponse)

        self.spans: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for rs in request.resource_spans:
                    service = next((a.value.string_value for a in rs.resource.attributes
                                    if a.key == "service.name"), "")
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            outer.spans.append({
                                "name": s.name, "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                                "parent": s.parent_span_id.hex(), "service": service,
                                "attributes": {a.key: a.value for a in s.attributes}})
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def named(self, name: str, trace_id: str = TRACE) -> list[dict]:
        return [s for s in self.spans if s["name"] == name and s["trace_id"] == trace_id]


def test_spans_reach_an_otlp_collector_with_their_parent_links(redis_url, tmp_path):
    pytest.importorskip("opentelemetry.sdk", reason="the optional extra `otel` is not installed")
    collector, wire = Collector(), Receiver.start()
    wire.script([500])
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": [
        {"id": "wire", "url": wire.url, "format": "json", "allow_private_network": True, "retry": RETRY}]}))
    port = free_port()
    env = private_env(redis_url, port, partners_file, "otl", SYNDICATION_API_KEYS=API_KEY, SYNDICATION_OPS_KEYS=OPS_KEY,
                      OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OTEL_BSP_SCHEDULE_DELAY="100")
    try:
        with running([api(env, tmp_path, port), worker("events", env, tmp_path), worker("deliveries", env, tmp_path)]):
            service = Service(f"http://127.0.0.1:{port}", wire, wire)
            aid = f"otlp-{uuid.uuid4().hex[:8]}"
            resp = service.post(article_event(aid), traceparent=f"00-{TRACE}-{PUBLISHER_SPAN}-01")
            assert resp.status_code == 202, resp.text
            wait_for(lambda: len(collector.named("delivery.attempt")) == 2 and collector.named("event.apply"),
                     timeout=30, what="accept, apply and two attempt spans at the collector")
            pushes = service.pushes(aid)
        (accept,) = collector.named("event.accept")
        assert accept["parent"] == PUBLISHER_SPAN  # a child of the publisher's span
        (apply,) = collector.named("event.apply")
        assert apply["parent"] == accept["span_id"]
        attempts = collector.named("delivery.attempt")
        assert {a["parent"] for a in attempts} == {accept["span_id"]}
        # The span a push names as its parent is the exported attempt span, one per attempt.
        sent = [parts(p.headers["traceparent"])[1] for p in pushes]
        assert sorted(sent) == sorted(a["span_id"] for a in attempts) and len(set(sent)) == 2
        renders = collector.named("delivery.render")
        assert sorted(r["parent"] for r in renders) == sorted(sent)
    finally:
        wire.stop()
        collector.stop()


def test_nothing_is_imported_without_an_otlp_endpoint(tmp_path):
    """Unset, a push's spans cost a span id: no tracer, no exporter is imported (a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys, syndication.tracing as t, syndication.api.app, syndication.delivery.push\n"
            "from syndication.tracecontext import new_trace\n"
            "s = t.start('delivery.attempt', new_trace()); s.end()\n"
            "assert t._tracer is False, t._tracer\n"
            # redis-py imports parts of the SDK itself when it is installed; the tracer and exporter are ours
            "assert 'opentelemetry.sdk.trace' not in sys.modules, 'tracer imported'\n"
            "assert 'opentelemetry.exporter.otlp.proto.http.trace_exporter' not in sys.modules, 'exporter imported'\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
