"""The strict readers of syndication/inputs.py: what they take, and every lax spelling they refuse."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from syndication import inputs
from syndication.api import params

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc).timestamp()

# Spellings Python's own readers accept (int(), float(), fromisoformat, re's \d and $) that no
# parameter of ours promises.
LAX_NUMBERS = ["١٢", "１２", " 12", "12 ", "12\n", "\t12", "1_000", "+12", "-12", "12.0", "1e3", "0x10",
               "nan", "NaN", "inf", "-inf", "1e999", "", "12a", "½", "²", "12\x00"]


@pytest.mark.parametrize("text,low,high,expected", [("1", 1, 10, 1), ("10", 1, 10, 10), ("007", 1, 10, 7),
                                                    ("10000", 1, 10_000, 10_000)])
def test_count_reads_ascii_digits_in_bounds(text, low, high, expected):
    assert inputs.count(text, low=low, high=high) == expected


@pytest.mark.parametrize("text", LAX_NUMBERS + ["0", "11", "9" * 40, "9" * 5000])
def test_count_refuses_lax_spellings_and_out_of_range(text):
    with pytest.raises(inputs.BadInput):
        inputs.count(text, low=1, high=10)


@pytest.mark.parametrize("value", [12, 12.0, True, None, b"12"])
def test_count_takes_only_text(value):
    with pytest.raises(inputs.BadInput):
        inputs.count(value, low=1, high=100)


@pytest.mark.parametrize("text,expected", [("0", 0.0), ("20", 20.0), ("2.5", 2.5), ("0.000000001", 1e-9)])
def test_seconds_reads_plain_decimals(text, expected):
    assert inputs.seconds(text, high=60) == expected


@pytest.mark.parametrize("text", [t for t in LAX_NUMBERS if t != "12.0"] + ["61", "2.", ".5", "1.2.3"])
def test_seconds_refuses_nan_inf_exponents_and_other_digits(text):
    with pytest.raises(inputs.BadInput):
        inputs.seconds(text, high=60)


@pytest.mark.parametrize("text,expected", [
    ("2h", NOW - 7200), ("30m", NOW - 1800), ("1d", NOW - 86400), ("0s", NOW), ("1.5h", NOW - 5400),
    ("2026-05-01T06:00:00Z", datetime(2026, 5, 1, 6, tzinfo=timezone.utc).timestamp()),
    ("2026-05-01t06:00:00z", datetime(2026, 5, 1, 6, tzinfo=timezone.utc).timestamp()),
    ("2026-05-01 06:00:00+02:00", datetime(2026, 5, 1, 4, tzinfo=timezone.utc).timestamp()),
    ("2026-05-01T06:00:00.25-00:30", datetime(2026, 5, 1, 6, 30, tzinfo=timezone.utc).timestamp() + 0.25),
    ("2026-05-01T06:00:00.123456789Z", datetime(2026, 5, 1, 6, tzinfo=timezone.utc).timestamp() + 0.123456789),
    ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp()),  # leap second
    ("1900-01-01T00:00:00Z", datetime(1900, 1, 1, tzinfo=timezone.utc).timestamp()),
    # Outside the window event dates lie in: the same selection as its edge.
    ("0000-01-01T00:00:00Z", inputs.EARLIEST), ("0001-01-01T00:00:00+14:00", inputs.EARLIEST),
    ("1899-12-31T23:59:59Z", inputs.EARLIEST), ("9" * 12 + "d", inputs.EARLIEST),
    ("9392689.363209143d", inputs.EARLIEST),
    ("9999-12-31T23:59:59-23:59", NOW + 365.25 * 10 * 86400), ("2037-01-01T00:00:00Z", NOW + 365.25 * 10 * 86400),
])
def test_instant_reads_ago_and_rfc3339(text, expected):
    assert inputs.instant(text, now=NOW) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("text", [
    "١٢h", "１２h", "2h\n", " 2h", "2 h", "2H", "2w", "1_0h", "1e3s", "nanh", "infh", "-2h", "+2h", "h", "2",
    "2026-05-01", "2026-05-01T06:00:00", "2026-05-01T06:00Z", "2026-05-01T06Z", "20260501T060000Z",
    "2026-W18-5T06:00:00Z", "2026-05-01T06:00:00Z\n", "2026-05-01T06:00:00,5Z", "٢٠٢٦-05-01T06:00:00Z",
    "2026-13-01T06:00:00Z", "2026-02-30T06:00:00Z", "2026-05-01T24:00:00Z", "2026-05-01T06:61:00Z",
    "2026-05-01T06:00:00+24:00", "2026-05-01T06:00:00+05:60", "0000-13-01T00:00:00Z", "99999-01-01T00:00:00Z",
    "now", "yesterday", "",
    "2026-05-01T06:00:00Z" + "0" * 60,
])
def test_instant_refuses_everything_else(text):
    with pytest.raises(inputs.BadInput) as caught:
        inputs.instant(text, now=NOW)
    assert str(caught.value)  # a message that says what is accepted or what is wrong


@pytest.mark.parametrize("value", [1764000000, 1764000000.0, None, True])
def test_instant_takes_only_text(value):
    with pytest.raises(inputs.BadInput):
        inputs.instant(value, now=NOW)


@pytest.mark.parametrize("kind,good,bad", [
    (params.ArticleId, ["a", "a/b:c@d.e-f_g", "x" * 200], ["", "/a", "a\n", "a b", "é", "x" * 201, "a*", "a?[b]"]),
    (params.PartnerId, ["kazinform", "ops-webhook", "a.b_c"], ["", "a/b", "a:b", "x" * 65, "a\n", "-a", "a*"]),
    (params.DeliveryId, ["msg_" + "0" * 26, "msg_" + "a1" * 13],
     ["msg_" + "0" * 25, "msg_" + "A" * 26, "msg_" + "0" * 26 + "\n", "msg_" + "0" * 27, "nope"]),
])
def test_api_ids_match_whole(kind, good, bad):
    # pydantic's pattern runs the Rust engine: `$` is the end of the text, not "before a last \n".
    adapter = TypeAdapter(kind)
    for value in good:
        assert adapter.validate_python(value) == value
    for value in bad:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


@pytest.mark.parametrize("text", LAX_NUMBERS + ["0", "1001"])
def test_api_query_limit_is_strict(text):
    with pytest.raises(ValidationError):
        TypeAdapter(params.Limit(1000)).validate_python(text)


@pytest.mark.parametrize("kind,value", [
    (params.JsonCount(1, 10), True), (params.JsonCount(1, 10), "5"), (params.JsonCount(1, 10), 5.5),
    (params.JsonBool, "yes"), (params.JsonBool, "true"), (params.JsonBool, 1), (params.JsonBool, 0),
    (params.JsonInstant, "١٢h"), (params.JsonInstant, 1764000000), (params.JsonInstant, "2026-05-01"),
])
def test_api_json_fields_are_strict(kind, value):
    with pytest.raises(ValidationError):
        TypeAdapter(kind).validate_python(value)


def test_api_json_fields_take_their_own_type():
    assert TypeAdapter(params.JsonCount(1, 10)).validate_python(5) == 5
    assert TypeAdapter(params.JsonCount(1, 10)).validate_python(5.0) == 5  # JSON's one number type
    assert TypeAdapter(params.JsonBool).validate_python(True) is True
    assert TypeAdapter(params.JsonInstant).validate_python("2h") == "2h"
