"""W3C Trace Context parsing and formatting (syndication/tracecontext.py), against the spec's rules
(https://www.w3.org/TR/trace-context/ sections 3.2 and 3.3)."""

from __future__ import annotations

import re

import pytest

from syndication import tracecontext as tc

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
GOOD = f"00-{TRACE}-{SPAN}-01"
FORMAT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def test_a_valid_version_00_header_is_parsed():
    ctx = tc.parse_traceparent(GOOD)
    assert (ctx.trace_id, ctx.span_id, ctx.flags) == (TRACE, SPAN, 1)
    assert ctx.traceparent == GOOD
    assert tc.parse_traceparent(f"00-{TRACE}-{SPAN}-00").flags == 0
    assert tc.parse_traceparent(f" {GOOD}\t").trace_id == TRACE  # optional whitespace around the value


@pytest.mark.parametrize("value", [
    None, "", "garbage",
    f"00-{'0' * 32}-{SPAN}-01",             # all-zero trace id
    f"00-{TRACE}-{'0' * 16}-01",            # all-zero parent id
    f"ff-{TRACE}-{SPAN}-01",                # version ff is forbidden
    f"00-{TRACE.upper()}-{SPAN}-01",        # uppercase hex
    f"00-{TRACE}-{SPAN.upper()}-01",
    f"00-{TRACE}-{SPAN}-0G",                # flags not hex
    f"0g-{TRACE}-{SPAN}-01",                # version not hex
    f"00-{TRACE[:-1]}-{SPAN}-01",           # short trace id
    f"00-{TRACE}x-{SPAN}-01",
    f"00-{TRACE}-{SPAN}-01-extra",          # version 00 is exactly 55 characters
    f"00_{TRACE}_{SPAN}_01",                # wrong separators
    f"01-{TRACE}-{SPAN}-01extra",           # a future version's extra fields must start with '-'
])
def test_invalid_headers_are_ignored(value):
    assert tc.parse_traceparent(value) is None


def test_a_future_version_is_read_by_its_first_four_fields_and_sent_as_00():
    ctx = tc.parse_traceparent(f"cc-{TRACE}-{SPAN}-01-what-the-future-will-be-like")
    assert (ctx.trace_id, ctx.span_id) == (TRACE, SPAN)
    assert ctx.traceparent == GOOD
    assert tc.parse_traceparent(f"01-{TRACE}-{SPAN}-01").traceparent == GOOD


def test_only_the_sampled_flag_is_passed_on():
    assert tc.parse_traceparent(f"00-{TRACE}-{SPAN}-ff").flags == 1
    assert tc.parse_traceparent(f"00-{TRACE}-{SPAN}-02").flags == 0


@pytest.mark.parametrize("value, kept", [
    ("congo=t61rcWkgMzE", "congo=t61rcWkgMzE"),
    ("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
    ("rojo=1,,  ,congo=2", "rojo=1,congo=2"),             # empty members are allowed
    ("fw529a3039@dt=abc", "fw529a3039@dt=abc"),            # multi-tenant key
    ("a=b c", "a=b c"),                                    # inner space is allowed in a value
    ("Rojo=1", ""),                                        # uppercase key
    ("rojo", ""), ("rojo=1,rojo=2", ""),                   # no '=', duplicate key
    ("rojo=a,b", ""), ("rojo=a=b", ""),                    # ',' or '=' in a value
    ("rojo=a ", "rojo=a"),                                 # trailing space: OWS around the member
    (",".join(f"k{i}=v" for i in range(33)), ""),          # more than 32 members
    (None, ""), ("", ""),
])
def test_tracestate(value, kept):
    assert tc.parse_tracestate(value) == kept


def test_a_long_tracestate_is_cut_by_whole_members():
    value = ",".join(f"k{i}={'x' * 100}" for i in range(10))
    kept = tc.parse_tracestate(value)
    assert len(kept) <= tc.MAX_TRACESTATE and kept.startswith("k0=") and kept.split(",")[-1].endswith("x" * 100)


def test_incoming_continues_a_valid_trace_with_a_span_of_its_own():
    parent, ours = tc.incoming(GOOD, "rojo=1")
    assert parent.span_id == SPAN and ours.trace_id == TRACE and ours.span_id != SPAN
    assert FORMAT.fullmatch(ours.traceparent) and ours.state == "rojo=1"


@pytest.mark.parametrize("bad", [None, f"00-{'0' * 32}-{SPAN}-01", "nonsense"])
def test_incoming_starts_a_new_trace_without_a_valid_parent_and_drops_its_tracestate(bad):
    parent, ours = tc.incoming(bad, "rojo=1")
    assert parent is None and ours.state == ""
    assert FORMAT.fullmatch(ours.traceparent) and ours.trace_id.strip("0") and ours.span_id.strip("0")
    assert tc.incoming(bad, None)[1].trace_id != ours.trace_id  # random: a new trace each time


def test_envelope_keeps_trace_parent_and_state():
    env = tc.envelope(GOOD, "rojo=1")
    assert env["parent_id"] == SPAN and env["tracestate"] == "rojo=1"
    assert tc.parse_traceparent(env["traceparent"]).trace_id == TRACE
    assert set(tc.envelope("bad", "rojo=1")) == {"traceparent"}


def test_every_attempt_is_a_new_span_of_the_delivery_trace():
    class D:
        traceparent, tracestate, event_id = GOOD, "rojo=1", "evt-1"

    a, b = tc.attempt_of(D), tc.attempt_of(D)
    assert a.trace_id == b.trace_id == TRACE and len({a.span_id, b.span_id, SPAN}) == 3
    assert a.headers() == {"traceparent": a.traceparent, "tracestate": "rojo=1"}

    class Old:  # a record from before trace context: one trace per event, all the same
        traceparent, tracestate, event_id = "", "", "evt-2"

    assert tc.attempt_of(Old).trace_id == tc.attempt_of(Old).trace_id
    assert FORMAT.fullmatch(tc.attempt_of(Old).traceparent)


def test_header_values_joins_repeated_lines():
    raw = [(b"tracestate", b"a=1"), (b"other", b"x"), (b"tracestate", b"b=2")]
    assert tc.header_values(raw, "tracestate") == "a=1,b=2"
    assert tc.header_values(raw, "traceparent") is None
