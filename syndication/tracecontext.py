"""W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate` headers.

A publisher's CMS that traces its publish click sends `traceparent` with `POST /v1/events`; the
event keeps the trace, and every push of it carries a `traceparent` in that same trace, so one
story can be followed from the newsroom to each partner's acceptance.

    traceparent: 00-<trace-id: 32 hex>-<parent-id: 16 hex>-<trace-flags: 2 hex>
    tracestate:  key=value[,key=value]... (at most 32 members, passed on unchanged)

Parsing follows the spec's rules for a receiver: lowercase hex only; version `ff` is invalid; a
trace id or parent id of all zeros is invalid; version 00 is exactly 55 characters; a future
version is parsed by its first four fields (a longer value must go on with `-`) and re-sent as
version 00. Anything invalid is ignored, never an error: a new trace is started instead, and
its `tracestate` is dropped with it (the spec forbids reading tracestate without a valid parent).
Pure: no I/O, no imports beyond the standard library.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

_HEX2 = re.compile(r"[0-9a-f]{2}")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_KEY = re.compile(r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})")
_VALUE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
MAX_MEMBERS = 32
MAX_TRACESTATE = 512  # the length the spec asks propagators to keep at least; longer is cut by members
SAMPLED = 0x01  # the one flag of Trace Context level 1; other bits are not passed on


@dataclass(frozen=True)
class TraceContext:
    """A position in a trace: the trace id, the current span's id, the flags and the vendor state."""

    trace_id: str
    span_id: str
    flags: int = SAMPLED
    state: str = ""

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags:02x}"

    def child(self, span_id: str | None = None) -> "TraceContext":
        """A new span in the same trace (this one its parent): a fresh span id unless given."""
        return TraceContext(self.trace_id, span_id or new_span_id(), self.flags, self.state)

    def headers(self) -> dict[str, str]:
        """The request headers that carry this context to the next hop."""
        out = {"traceparent": self.traceparent}
        if self.state:
            out["tracestate"] = self.state
        return out


def new_trace_id() -> str:
    while True:  # all zeros is invalid; one chance in 2**128
        value = secrets.token_hex(16)
        if value.strip("0"):
            return value


def new_span_id() -> str:
    while True:
        value = secrets.token_hex(8)
        if value.strip("0"):
            return value


def new_trace() -> TraceContext:
    return TraceContext(new_trace_id(), new_span_id(), SAMPLED, "")


def parse_traceparent(value: str | None) -> TraceContext | None:
    """The context in a `traceparent` header value, or None if it is missing or invalid."""
    if not value:
        return None
    value = value.strip(" \t")
    if len(value) < 55 or not _HEX2.fullmatch(value[:2]) or value[:2] == "ff":
        return None
    if value[:2] == "00" and len(value) != 55:
        return None
    if len(value) > 55 and value[55] != "-":  # a future version's extra fields start with '-'
        return None
    if value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    trace_id, span_id, flags = value[3:35], value[36:52], value[53:55]
    if not (_TRACE_ID.fullmatch(trace_id) and _SPAN_ID.fullmatch(span_id) and _HEX2.fullmatch(flags)):
        return None
    if not trace_id.strip("0") or not span_id.strip("0"):
        return None
    return TraceContext(trace_id, span_id, int(flags, 16) & SAMPLED)


def parse_tracestate(value: str | None) -> str:
    """A valid `tracestate` in canonical form ("key=value,key=value"), or "" if missing or invalid.

    Several header lines are one list (join them with ','). Empty members are allowed and dropped;
    a duplicate key or a bad member makes the whole value invalid (the spec: do not propagate it).
    Longer than MAX_TRACESTATE: whole members are dropped from the end until it fits."""
    if not value:
        return ""
    members, keys = [], set()
    for raw in value.split(","):
        member = raw.strip(" \t")
        if not member:
            continue
        key, eq, val = member.partition("=")
        if not eq or not _KEY.fullmatch(key) or not _VALUE.fullmatch(val) or key in keys:
            return ""
        keys.add(key)
        members.append(member)
    if len(members) > MAX_MEMBERS:
        return ""
    while members and len(",".join(members)) > MAX_TRACESTATE:
        members.pop()
    return ",".join(members)


def incoming(traceparent: str | None, tracestate: str | None) -> tuple[TraceContext | None, TraceContext]:
    """(the caller's context or None, our span in it): a child of a valid `traceparent`, else a new trace."""
    parent = parse_traceparent(traceparent)
    if parent is None:
        return None, new_trace()
    parent = TraceContext(parent.trace_id, parent.span_id, parent.flags, parse_tracestate(tracestate))
    return parent, parent.child()


def from_record(traceparent: str | None, tracestate: str | None = "", fallback: str = "") -> TraceContext:
    """The context a stored record keeps (our own, valid by construction); a record without one
    (created before trace context, or a system ping) gets a trace derived from `fallback`, so
    every attempt of it shares one trace id."""
    ctx = parse_traceparent(traceparent)
    if ctx is not None:
        return TraceContext(ctx.trace_id, ctx.span_id, ctx.flags, parse_tracestate(tracestate))
    digest = hashlib.sha256(f"trace\x00{fallback}".encode()).hexdigest() if fallback else new_trace_id() * 2
    return TraceContext(digest[:32], digest[32:48], SAMPLED, "")


def envelope(traceparent: str | None, tracestate: str | None) -> dict[str, str]:
    """The envelope of an event accepted with these headers (no tracer: the accept span is an id)."""
    parent, ours = incoming(traceparent, tracestate)
    return envelope_of(ours, parent)


def envelope_of(ours: TraceContext, parent: TraceContext | None) -> dict[str, str]:
    """What a stored event keeps of its trace: `traceparent` (our accept span: the event's trace id
    and the span its deliveries descend from), `tracestate` if any, `parent_id` (the publisher's
    span) if it sent a valid one."""
    out = {"traceparent": ours.traceparent}
    if ours.state:
        out["tracestate"] = ours.state
    if parent is not None:
        out["parent_id"] = parent.span_id
    return out


def header_values(headers, name: str) -> str | None:
    """One header's value from a Starlette `Headers` or an ASGI list of byte pairs; repeated
    lines joined with ',' (how a list header such as tracestate may arrive)."""
    if hasattr(headers, "getlist"):
        values = headers.getlist(name)
    else:
        key = name.encode()
        values = [v.decode("latin-1") for k, v in headers if k.lower() == key]
    return ",".join(values) if values else None


def attempt_of(delivery) -> TraceContext:
    """A push attempt's context: a new span (its id sent as the parent-id) under the delivery's
    stored context, whose tracestate it passes on."""
    return from_record(delivery.traceparent, delivery.tracestate, fallback=delivery.event_id).child()


def record_fields(trace: dict | None) -> list[str]:
    """An event's trace envelope as a delivery record keeps it: [traceparent, tracestate] ('' if none)."""
    trace = trace or {}
    return [trace.get("traceparent", ""), trace.get("tracestate", "")]
