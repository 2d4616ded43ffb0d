"""What is kept of a delivery's last request (records.request_record): bounded, masked, exact."""

from __future__ import annotations

import base64

from syndication.delivery.records import REQUEST_BODY_CAP, request_record

SIGNED = {"webhook-id": "d1", "webhook-timestamp": "1700000000", "webhook-signature": "v1,abc="}


def test_a_body_under_the_cap_is_kept_whole_with_its_signature_headers():
    body = '{"headline":"Алматы ☃"}'.encode()
    kept = request_record(body, {"Content-Type": "application/json", **SIGNED}, n=3, at=5.0)
    assert kept["body"].encode() == body and kept["encoding"] == "utf-8" and not kept["truncated"]
    assert kept["headers"] == {"Content-Type": "application/json", **SIGNED}
    assert (kept["attempt"], kept["at"], kept["body_bytes"], kept["kept_bytes"]) == (3, 5.0, len(body), len(body))


def test_a_body_over_the_cap_is_cut_and_marked():
    body = b"<x>" + "ж".encode() * REQUEST_BODY_CAP  # two bytes a character: the cut falls inside one
    kept = request_record(body, {}, n=1, at=0.0)
    assert kept["truncated"] and kept["body_bytes"] == len(body) and kept["kept_bytes"] == REQUEST_BODY_CAP
    assert kept["encoding"] == "utf-8" and body.startswith(kept["body"].encode())
    assert len(kept["body"].encode()) >= REQUEST_BODY_CAP - 3


def test_a_body_that_is_not_utf8_is_kept_as_base64():
    body = b"\xff\xfe binary"
    kept = request_record(body, {}, n=1, at=0.0)
    assert kept["encoding"] == "base64" and base64.b64decode(kept["body"]) == body


def test_credentials_are_masked_and_nothing_else():
    kept = request_record(b"{}", {"Authorization": "Bearer s3cret", "authorization-hint": "x", **SIGNED},
                          n=1, at=0.0)
    assert kept["headers"]["Authorization"] == "Bearer ********" and "s3cret" not in str(kept)
    basic = request_record(b"{}", {"authorization": "Basic dXNlcjpwYXNz"}, n=1, at=0.0)
    assert basic["headers"]["authorization"] == "Basic ********"
    assert kept["headers"]["authorization-hint"] == "x" and kept["headers"]["webhook-signature"] == "v1,abc="
