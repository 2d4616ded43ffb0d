"""Spans of an event's life (accept, apply, render, each push attempt), exported with OpenTelemetry
when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.

    span = tracing.start("delivery.attempt", parent)   # parent: a tracecontext.TraceContext
    span.context.headers()                              # the traceparent to send: this span's id
    span.end(**attributes)

Unset (the default), nothing is imported or exported: a span is only a new span id in the
parent's trace (tracecontext.py), which is all the `traceparent` on a push needs. Set, the
OpenTelemetry SDK (the optional extra `otel`: `pip install 'syndication[otel]'`) exports over
OTLP/HTTP protobuf with a batch processor; its own variables apply (OTEL_SERVICE_NAME,
OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_SCHEDULE_DELAY, ...). Each process sets its exporter up at
its first span (after a prefork worker forks, so the export thread is the child's own) and
flushes at exit. A failing collector never fails a push: the SDK drops what it cannot send.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any

from syndication.tracecontext import TraceContext, envelope_of, header_values, incoming, new_trace, parse_traceparent

log = logging.getLogger("syndication.tracing")
_tracer: Any = None  # the SDK's tracer once set up; False when OTLP is off or the SDK is missing


def exporting() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _get_tracer():
    global _tracer
    if _tracer is None:
        _tracer = _set_up() if exporting() else False
    return _tracer


def _set_up():
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not installed "
                    "(pip install 'syndication[otel]'): no spans are exported")
        return False
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "syndication"})
    provider = TracerProvider(resource=resource)  # flushes at exit (shutdown_on_exit)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider.get_tracer("syndication")


class Span:
    """A span in progress: `context` is its place in the trace (what goes on to the next hop)."""

    def __init__(self, context: TraceContext, otel=None):
        self.context, self._otel = context, otel

    def end(self, **attributes) -> None:
        if self._otel is not None:
            self._otel.set_attributes({k: v for k, v in attributes.items() if v is not None})
            self._otel.end()
            self._otel = None


def start(name: str, parent: TraceContext | None, start_time: float | None = None, **attributes) -> Span:
    """A child span of `parent` (a new trace if None); exported at `end` when OTLP is on."""
    tracer = _get_tracer()
    if not tracer:
        return Span(parent.child() if parent is not None else new_trace())
    from opentelemetry import trace

    context = None
    if parent is not None:
        remote = trace.SpanContext(int(parent.trace_id, 16), int(parent.span_id, 16), is_remote=True,
                                   trace_flags=trace.TraceFlags(parent.flags))
        context = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    span = tracer.start_span(name, context=context, attributes={k: v for k, v in attributes.items() if v is not None},
                             start_time=int(start_time * 1e9) if start_time else None)
    sc = span.get_span_context()
    ours = TraceContext(f"{sc.trace_id:032x}", f"{sc.span_id:016x}", int(sc.trace_flags) & 1,
                        parent.state if parent is not None else "")
    return Span(ours, span)


@contextmanager
def accept(headers):
    """The accept span of `POST /v1/events`, a child of the publisher's `traceparent` if valid;
    yields the envelope the stored event keeps (tracecontext.envelope_of)."""
    parent, _ = incoming(header_values(headers, "traceparent"), header_values(headers, "tracestate"))
    span = start("event.accept", parent)
    try:
        yield envelope_of(span.context, parent)
    finally:
        span.end()


def applied(trace: dict | None, started: float, **attributes) -> None:
    """An event was applied (pipeline/apply.py, batch.py): its span under the accept span, if exported."""
    if trace and _get_tracer():
        start("event.apply", parse_traceparent(trace.get("traceparent")), start_time=started,
              **attributes).end()
