"""Article events: the schema publishers send to `POST /v1/events`, and its validation.

Three event types share one envelope (`event_id`, `type`, `occurred_at`,
`article`). `article.published` and `article.updated` carry the full article;
`article.withdrawn` carries only the id, the new version and a reason.
`article.version` is an integer that must increase with every event for the
same article: it is how out-of-order delivery is detected.

    event = parse_event(raw_bytes)        # raises InvalidEvent naming each bad field

Unknown keys are ignored (publishers add fields before we learn them);
known keys are checked strictly: a version of "2" is a type error, not 2.
Every string and list is bounded; dates are RFC 3339 strings between 1900
and ten years from now (a date past year 9999 in UTC once stopped feeds);
URLs must parse as http(s) URLs with a host; no string may hold a lone
surrogate (not Unicode, cannot be stored or sent). Whatever is accepted
can be stored, rendered and pushed.

`article.subjects` (optional) classifies the story with IPTC Media Topics beside the
free-text `categories`: `[{"qcode": "medtop:11000000", "name": "politics"}]`. The qcode
must be `medtop:` and eight digits; the name is optional (filled from the vocabulary
when the service knows the topic, syndication/subjects.py). A qcode newer than the
vendored vocabulary is accepted: IPTC adds topics, and a publisher must not be refused
for using one.

`article.correction` (optional, `article.updated` only) says this version corrects an error in
an earlier one, as schema.org's `correction` and IPTC's `sig:correction` signal do:
`{"note": "An earlier version misspelt the minister's name."}`; the note (plain text, optional)
is what newsrooms print under the story, and goes to partners as NewsML-G2 `edNote` and ninjs
`ednote`. An update without it is an ordinary update; stored only when present. On an
`article.published` event it is refused (a first version corrects nothing).

`article.embargoed` (optional, the name ninjs uses) holds a story back until
that instant: stored at once, in no public feed and pushed only to partners
with `embargo: send` until then (pipeline/embargo.py releases it).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, \
    ValidationError, field_validator, model_serializer
from pydantic.json_schema import SkipJsonSchema

from syndication.errors import InvalidEvent
from syndication.subjects import QCODE_PATTERN

MAX_EVENT_BYTES = 1024 * 1024
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$"
Text = Annotated[str, Field(max_length=100_000)]
Short = Annotated[str, Field(max_length=200)]
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
FUTURE_YEARS = 10
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\<>\"]")


def _json_integer(value: Any) -> Any:
    # JSON has one number type: 2.0 is the integer 2 (JSON Schema agrees). Bools and 2.5 stay wrong.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _rfc3339_string(value: Any) -> Any:
    # A date is a string the schema can describe: no unix numbers, no "2026-11-21" without a time.
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time string with a zone, e.g. 2026-11-21T09:30:00Z")
    return value


def _bounded(value: datetime) -> datetime:
    # Seconds since the epoch by subtraction: astimezone() itself overflows past year 9999.
    seconds = (value - EARLIEST).total_seconds()
    latest = datetime.now(timezone.utc) + timedelta(days=365.25 * FUTURE_YEARS)
    if seconds < 0 or seconds > (latest - EARLIEST).total_seconds():
        raise ValueError(f"must lie between 1900-01-01 and {FUTURE_YEARS} years from now (UTC)")
    return value


def _http_url(value: str) -> str:
    if _URL_FORBIDDEN.search(value):
        raise ValueError("must not contain spaces, control characters, quotes, angle brackets or backslashes")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError as exc:
        raise ValueError(f"is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host")
    return value


Date = Annotated[AwareDatetime, BeforeValidator(_rfc3339_string), AfterValidator(_bounded)]
Url = Annotated[str, Field(max_length=2048), AfterValidator(_http_url)]
Int = BeforeValidator(_json_integer)


class Image(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: Url
    caption: Annotated[str, Field(max_length=2000)] | None = None
    mime_type: Annotated[str, Field(pattern=r"^image/[a-z0-9.+-]{1,100}$")] = "image/jpeg"
    width: Annotated[int, Field(strict=True, ge=1, le=100_000), Int] | None = None
    height: Annotated[int, Field(strict=True, ge=1, le=100_000), Int] | None = None
    length: Annotated[int, Field(strict=True, ge=0, le=2**40), Int] | None = None


class Subject(BaseModel):
    """An IPTC Media Topic the article is about (ninjs `subjects`, NewsML-G2 `subject`)."""

    model_config = ConfigDict(extra="ignore")

    qcode: Annotated[str, Field(pattern=QCODE_PATTERN, max_length=15,
                                description="An IPTC Media Topic qcode: `medtop:` and eight digits",
                                examples=["medtop:11000000"])]
    name: Annotated[str, Field(min_length=1, max_length=200,
                               description="The topic's name; the IPTC's English name when absent and known")] \
        | None = None


class ArticleRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    version: Annotated[int, Field(strict=True, ge=1, le=2**53), Int]


class Article(ArticleRef):
    url: Url
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}$")]
    headline: Annotated[str, Field(min_length=1, max_length=1000)]
    summary: Text = ""
    body_html: Annotated[str, Field(max_length=MAX_EVENT_BYTES)] = ""
    authors: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=50)] = \
        Field(default_factory=list)
    categories: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=100)] = \
        Field(default_factory=list)
    subjects: Annotated[list[Subject], Field(max_length=50)] = Field(default_factory=list)
    section: Short | None = None
    dateline: Short | None = None
    source: Short | None = None
    published_at: Date
    updated_at: Date | None = None
    # Not before this instant (ninjs `embargoed`): stored at once, released by the sweeper then
    # (pipeline/embargo.py). A time already past is no embargo.
    embargoed: Date | None = None
    images: Annotated[list[Image], Field(max_length=50)] = Field(default_factory=list)


class Correction(BaseModel):
    """This version corrects an earlier one (IPTC `sig:correction`, schema.org `correction`)."""

    model_config = ConfigDict(extra="ignore")

    note: Annotated[str, Field(min_length=1, max_length=2000,
                               description="What was corrected, as readers are told: plain text",
                               examples=["An earlier version misspelt the minister's name."])] | None = None


def _correction_object(value: Any) -> Any:
    # `true` is the likeliest mistake: say what is wanted instead of pydantic's "instance of Correction".
    if value is not None and not isinstance(value, (dict, Correction)):
        raise ValueError('must be an object, e.g. {"note": "An earlier version misspelt the minister\'s name."}'
                         ' ({} for a correction without a note)')
    return value


class UpdatedArticle(Article):
    correction: Annotated[Correction | None, BeforeValidator(_correction_object)] = Field(
        default=None, description="Present when this version corrects an error in an earlier one: "
                                  "`{\"note\": \"...\"}` (IPTC sig:correction)")

    @model_serializer(mode="wrap")
    def _without_absent_correction(self, handler):
        # Stored and pushed only when present: an ordinary update keeps the shape it always had.
        data = handler(self)
        if isinstance(data, dict) and data.get("correction") is None:
            data.pop("correction", None)
        return data


class PublishedArticle(Article):
    # Not part of the published schema: here only to refuse it by name instead of dropping it.
    correction: SkipJsonSchema[Any] = Field(default=None, exclude=True)

    @field_validator("correction")
    @classmethod
    def _first_version_corrects_nothing(cls, value: Any) -> None:
        if value is not None:
            raise ValueError("only an article.updated event can be a correction: a first version corrects "
                             "nothing (send article.updated for the corrected version)")
        return None


class Withdrawal(ArticleRef):
    reason: Text = ""


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: Annotated[str, Field(pattern=ID_PATTERN)]
    occurred_at: Date


class PublishedEvent(_Envelope):
    type: Literal["article.published"]
    article: PublishedArticle


class UpdatedEvent(_Envelope):
    type: Literal["article.updated"]
    article: UpdatedArticle


class WithdrawnEvent(_Envelope):
    type: Literal["article.withdrawn"]
    article: Withdrawal


Event = Annotated[Union[PublishedEvent, UpdatedEvent, WithdrawnEvent], Field(discriminator="type")]
EVENT_TYPES = ("article.published", "article.updated", "article.withdrawn")
event_adapter: TypeAdapter = TypeAdapter(Event)  # event_schema.py publishes its JSON Schema


def _field_name(loc: tuple) -> str:
    # The discriminated union puts the tag (e.g. 'article.published') first in the location.
    parts = [str(p) for p in loc if str(p) not in EVENT_TYPES]
    return ".".join(parts) or "(body)"


def problems_from(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "union_tag_invalid":
            msg = f"unknown event type {err['input'].get('type')!r}; expected one of {', '.join(EVENT_TYPES)}"
            err = {**err, "loc": ("type",)}
        elif err["type"] == "union_tag_not_found":
            msg = f"missing; expected one of {', '.join(EVENT_TYPES)}"
            err = {**err, "loc": ("type",)}
        out.append({"field": _field_name(err["loc"]), "message": msg})
    return out


def _key(key: Any) -> str:
    # A key is echoed in the field path of a 422: a lone surrogate in it must not make the answer
    # itself unencodable (a 500), so it is spelled as its escape.
    return str(key).encode("utf-8", "backslashreplace").decode("utf-8")


def _surrogates(data: Any) -> list[dict[str, str]]:
    """Every string (key or value) holding a lone surrogate, by field path. Iterative: any depth."""
    problems, stack = [], [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if any("\ud800" <= ch <= "\udfff" for ch in value):
                problems.append({"field": ".".join(path) or "(body)",
                                 "message": "contains a lone UTF-16 surrogate (\\ud800-\\udfff): not valid Unicode"})
        elif isinstance(value, dict):
            stack.extend((path + (_key(k),), v) for k, v in value.items())
            stack.extend((path + (_key(k),), k) for k in value if isinstance(k, str))
        elif isinstance(value, list):
            stack.extend((path + (str(i),), v) for i, v in enumerate(value))
    return sorted(problems, key=lambda p: p["field"])


def parse_event(raw: bytes | str | dict[str, Any]) -> PublishedEvent | UpdatedEvent | WithdrawnEvent:
    """Validate raw JSON (bytes/str) or an already-decoded dict. Raises InvalidEvent."""
    if isinstance(raw, (bytes, str)):
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidEvent([{"field": "(body)", "message": f"not valid JSON: {exc}"}]) from None
        except RecursionError:
            raise InvalidEvent([{"field": "(body)", "message": "nested too deeply"}]) from None
    else:
        data = raw
    if not isinstance(data, dict):
        raise InvalidEvent([{"field": "(body)", "message": "must be a JSON object"}])
    bad_unicode = _surrogates(data)
    if bad_unicode:
        raise InvalidEvent(bad_unicode)
    try:
        return event_adapter.validate_python(data)
    except ValidationError as exc:
        raise InvalidEvent(problems_from(exc)) from None
    except RecursionError:
        raise InvalidEvent([{"field": "(body)", "message": "nested too deeply"}]) from None


def embargoed_until(article: dict[str, Any] | None) -> float | None:
    """The article's `embargoed` instant as unix seconds; None when it has none.

    Reads stored article data (validated on the way in, so the string is RFC 3339). Lower-case
    `t`/`z` are legal RFC 3339 that `datetime.fromisoformat` refuses: upper-cased first."""
    value = (article or {}).get("embargoed")
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.upper()).timestamp()
    except (TypeError, ValueError):  # not from a validated event: treat as no embargo
        return None
