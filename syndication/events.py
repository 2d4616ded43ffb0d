"""Article events: the schema publishers send to `POST /v1/events`, and its validation.

Three event types share one envelope (`event_id`, `type`, `occurred_at`,
`article`). `article.published` and `article.updated` carry the full article;
`article.withdrawn` carries only the id, the new version and a reason.
`article.version` is an integer that must increase with every event for the
same article: it is how out-of-order delivery is detected.

    event = parse_event(raw_bytes)        # raises InvalidEvent naming each bad field
    json_schema()                         # what `syndication schema` prints

Unknown keys are ignored (publishers add fields before we learn them);
known keys are checked strictly: a version of "2" is a type error, not 2.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .errors import InvalidEvent

MAX_EVENT_BYTES = 1024 * 1024
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$"
Text = Annotated[str, Field(max_length=100_000)]


class Image(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: Annotated[str, Field(pattern=r"^https?://", max_length=2048)]
    caption: str | None = None
    mime_type: Annotated[str, Field(pattern=r"^image/[a-z0-9.+-]+$")] = "image/jpeg"
    width: Annotated[int, Field(strict=True, ge=1)] | None = None
    height: Annotated[int, Field(strict=True, ge=1)] | None = None
    length: Annotated[int, Field(strict=True, ge=0)] | None = None


class ArticleRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    version: Annotated[int, Field(strict=True, ge=1, le=2**53)]


class Article(ArticleRef):
    url: Annotated[str, Field(pattern=r"^https?://", max_length=2048)]
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]
    headline: Annotated[str, Field(min_length=1, max_length=1000)]
    summary: Text = ""
    body_html: Annotated[str, Field(max_length=MAX_EVENT_BYTES)] = ""
    authors: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    categories: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    section: str | None = None
    dateline: str | None = None
    source: str | None = None
    published_at: AwareDatetime
    updated_at: AwareDatetime | None = None
    images: list[Image] = Field(default_factory=list)


class Withdrawal(ArticleRef):
    reason: Text = ""


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: Annotated[str, Field(pattern=ID_PATTERN)]
    occurred_at: AwareDatetime


class PublishedEvent(_Envelope):
    type: Literal["article.published"]
    article: Article


class UpdatedEvent(_Envelope):
    type: Literal["article.updated"]
    article: Article


class WithdrawnEvent(_Envelope):
    type: Literal["article.withdrawn"]
    article: Withdrawal


Event = Annotated[Union[PublishedEvent, UpdatedEvent, WithdrawnEvent], Field(discriminator="type")]
EVENT_TYPES = ("article.published", "article.updated", "article.withdrawn")
_adapter: TypeAdapter = TypeAdapter(Event)


def _field_name(loc: tuple) -> str:
    # The discriminated union puts the tag (e.g. 'article.published') first in the location.
    parts = [str(p) for p in loc if str(p) not in EVENT_TYPES]
    return ".".join(parts) or "(body)"


def problems_from(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors(include_url=False):
        msg = err["msg"]
        if err["type"] == "union_tag_invalid":
            msg = f"unknown event type {err['input'].get('type')!r}; expected one of {', '.join(EVENT_TYPES)}"
            err = {**err, "loc": ("type",)}
        elif err["type"] == "union_tag_not_found":
            msg = f"missing; expected one of {', '.join(EVENT_TYPES)}"
            err = {**err, "loc": ("type",)}
        out.append({"field": _field_name(err["loc"]), "message": msg})
    return out


def parse_event(raw: bytes | str | dict[str, Any]) -> PublishedEvent | UpdatedEvent | WithdrawnEvent:
    """Validate raw JSON (bytes/str) or an already-decoded dict. Raises InvalidEvent."""
    if isinstance(raw, (bytes, str)):
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidEvent([{"field": "(body)", "message": f"not valid JSON: {exc}"}]) from None
    else:
        data = raw
    if not isinstance(data, dict):
        raise InvalidEvent([{"field": "(body)", "message": "must be a JSON object"}])
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        raise InvalidEvent(problems_from(exc)) from None


def json_schema() -> dict[str, Any]:
    schema = _adapter.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "syndication article event"
    return schema
