"""The types of the API's parameters and body fields that take numbers, times and ids.

Each reads through syndication/inputs.py, so a query string, a path and a JSON body accept
exactly what the CLI does, and anything else is a 422 naming the field (never a 500, and
never a lax value read as something the caller did not write):

    limit: params.Limit(1000) = Query(100)          ?limit=12  (not 1_000, ' 12', '١٢', 12.0)
    delivery_id: params.DeliveryId                  msg_ + 26 hex digits, or 422
    JSON: params.JsonCount(1, 10_000), params.JsonBool, params.JsonInstant

pydantic's lax mode reads '1_000', ' 12\\n' and '12.0' as 12-ish ints, true as 1 and "yes"
as true; its `pattern` runs the Rust engine, where `$` is the end of the text (unlike `re`).
A JSON integer may still be written 20.0: JSON has one number type, and JSON Schema's
`integer` includes it (events.py reads event versions the same way).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool, StrictStr

from syndication import events, inputs


def _instant_text(value: Any) -> Any:
    if isinstance(value, str):
        inputs.instant(value)  # BadInput (a ValueError): a 422 that says what is accepted
    return value


def Limit(high: int, low: int = 1):  # noqa: N802 (a type, spelled like one)
    """A query count low..high in ASCII digits (Field's bounds put them in the document)."""
    def read(value: Any) -> Any:
        # Query values arrive as text: read strictly; anything else (a default) pydantic judges.
        return inputs.count(value, low=low, high=high) if isinstance(value, str) else value
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(read)]


def JsonCount(low: int, high: int):  # noqa: N802
    """A JSON integer low..high: no true, no "12", no 12.5 (12.0 is 12)."""
    return Annotated[int, Field(strict=True, ge=low, le=high), events.Int]


JsonBool = StrictBool  # true or false: not "yes", 1 or "true"
JsonInstant = Annotated[StrictStr, Field(max_length=inputs.MAX_TEXT, json_schema_extra={
    "anyOf": [{"pattern": inputs.AGO_PATTERN}, {"format": "date-time"}]}), BeforeValidator(_instant_text)]

# The id syntaxes, as events.ID_PATTERN, partners/registry.py and records.delivery_id make them.
ArticleId = Annotated[str, Field(pattern=events.ID_PATTERN)]
PartnerId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
DeliveryId = Annotated[str, Field(pattern=r"^msg_[0-9a-f]{26}$")]
