"""The OpenAPI contract: error body, success bodies, security schemes and the event request body.

Partners generate clients from /openapi.json, so the document says what
the service really does, and tests/integration/test_contract.py checks that
with Schemathesis against the running service. This module owns:

- `ErrorBody`, the JSON every error carries (app.py's handlers, the auth
  throttle's 429 and the body limit's 413 all answer in this shape), and
  `errors(...)`, the `responses=` entries routes declare with it;
- the models of success bodies (`ArticleState`, `Delivery`, `FeedList`, ...).
  They document and never filter: routes return plain dicts, so a model here
  can't drop a field or turn a response into a 500;
- the bearer-key security schemes (`PUBLISHER_KEY`, `OPS_KEY`, `FEED_KEY`),
  used as FastAPI dependencies that only put the scheme in the document: the
  routes check keys themselves (auth.py);
- `install(app)`, which finishes the document FastAPI generates: the event
  schema from syndication/events.py as components (the body of POST
  /v1/events, which the route reads itself to cap and check it), and no
  FastAPI `HTTPValidationError` (our 422 is an `ErrorBody`).
"""

from __future__ import annotations

import copy
import warnings
from collections import Counter
from datetime import datetime
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from syndication import event_schema, events
from syndication.delivery.records import DeliveryStatus

# --- errors ---------------------------------------------------------------------------------------


class Problem(BaseModel):
    field: str = Field(description="What is wrong: a dotted path into the body (`article.version`), "
                                   "a parameter (`query.limit`), or `(body)`")
    message: str


class ErrorBody(BaseModel):
    """Every error: a stable name for programs, a sentence for people, and each bad field on a 422."""

    error: str = Field(description="Stable name of the error: `invalid_event`, `invalid_request`, "
                                   "`bad_request`, `unauthorized`, `not_found`, `body_too_large`, "
                                   "`unsupported_media_type`, `too_many_attempts`, `unavailable`, ...",
                       examples=["invalid_event"])
    detail: str = Field(examples=["article.version: Input should be a valid integer"])
    # Present on 422 only; never null, hence no `null` in the schema.
    problems: list[Problem] | SkipJsonSchema[None] = Field(
        default=None, description="On 422: every field that is wrong, each with its own message")


_ERRORS = {
    400: "The request is well formed but asks for something this operation cannot do",
    401: "No key, or a key that is not recognised (`WWW-Authenticate: Bearer`)",
    403: "Refused whatever the key: `detail` says why",
    404: "No such resource",
    413: "The body is over its limit (1 MiB for events); nothing was read past the limit",
    415: "The body is not JSON (`Content-Type` must be `application/json` or `application/*+json`)",
    422: "The request is invalid; `problems` names each bad field",
    429: "Too many wrong keys from this address: wait `Retry-After` seconds",
    503: "The state store is unreachable: retry later (with the same `event_id` for events)",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying",
                                "schema": {"type": "integer", "minimum": 0}}}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}, "required": True}},
    429: {"Retry-After": {**_RETRY_AFTER["Retry-After"], "required": True}},
    503: _RETRY_AFTER,
}


def errors(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these error statuses, each an `ErrorBody`.

    A description can be overridden per status: `errors(404, e404="no such delivery")`."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorBody,
                                 "description": descriptions.get(f"e{status}", _ERRORS[status])}
        if status in _HEADERS:
            entry["headers"] = copy.deepcopy(_HEADERS[status])
        out[status] = entry
    return out


# --- security -------------------------------------------------------------------------------------
# auto_error=False: these only declare the scheme; auth.py checks the key, throttles and answers 401
# in the API's error shape (FastAPI's own check would answer 403 in another shape).

PUBLISHER_KEY = HTTPBearer(scheme_name="publisherKey", auto_error=False,
                           description="A publisher key (`SYNDICATION_API_KEYS`): posting events, "
                                       "and reading any article")
OPS_KEY = HTTPBearer(scheme_name="opsKey", auto_error=False,
                     description="An ops key (`SYNDICATION_OPS_KEYS`): deliveries and replays, and "
                                 "reading any article")
FEED_KEY = HTTPBearer(scheme_name="feedKey", auto_error=False,
                      description="A partner feed key (`SYNDICATION_FEED_KEYS`): feeds with `access: partner`")
# An operation whose `security` also lists this requirement works without a key (OpenAPI's "optional").
ANONYMOUS: dict[str, list[str]] = {}


# --- success bodies -------------------------------------------------------------------------------


class EventAccepted(BaseModel):
    event_id: str
    status: Literal["accepted"]


class StoredImage(BaseModel):
    model_config = ConfigDict(extra="allow")

    url: str
    caption: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    length: int | None = None


class StoredSubject(BaseModel):
    qcode: str = Field(description="IPTC Media Topic qcode (`medtop:` and eight digits)")
    name: str | SkipJsonSchema[None] = Field(default=None, description="As sent, else the IPTC's English name "
                                                                       "when known")


class StoredCorrection(BaseModel):
    note: str | SkipJsonSchema[None] = Field(default=None, description="What was corrected (plain text)")


class StoredArticle(BaseModel):
    """The article as published: the event's `article`, cleaned (sanitized HTML, plain-text fields)."""

    model_config = ConfigDict(extra="allow")

    id: str
    version: int
    url: str
    language: str
    headline: str
    summary: str = ""
    body_html: str = ""
    authors: list[str] = []
    categories: list[str] = []
    subjects: list[StoredSubject] = []
    section: str | None = None
    dateline: str | None = None
    source: str | None = None
    published_at: datetime
    updated_at: datetime | None = None
    images: list[StoredImage] = []
    # Absent on every version that is not a correction (never null).
    correction: StoredCorrection | SkipJsonSchema[None] = Field(
        default=None, description="Only on a version that corrects an earlier one (`article.updated`)")


class ArticleState(BaseModel):
    """An article's current state. Without a key only `id`, `version` and `status` are sure to be set."""

    id: str
    version: int
    status: Literal["published", "embargoed", "withdrawn"] = Field(
        description="`embargoed` (key holders only): stored, held from feeds and `embargo: hold` partners "
                    "until `embargoed`")
    embargoed: str | None = Field(default=None, description="While `status` is `embargoed`: the instant "
                                                            "it is released (RFC 3339)")
    withdrawn_reason: str | None = Field(description="Why it was withdrawn (key holders only)")
    last_event_id: str | None = Field(description="The event that made this version (null for a tombstone "
                                                  "read without a key)")
    article: StoredArticle | None = Field(description="The article; null for a tombstone read without a key")


class Attempt(BaseModel):
    model_config = ConfigDict(extra="allow")

    n: int = Field(description="Attempt number, from 1")
    at: float = Field(description="Unix time of the attempt")
    status: int | None = Field(description="HTTP status the partner answered; null if none")
    latency_ms: float
    outcome: str = Field(description="What the answer meant: delivered, retry, gone, dead, ...")
    error: str | None
    response: str | None = Field(description="The start of the partner's answer (500 characters at most)")
    traceparent: str | SkipJsonSchema[None] = Field(
        default=None, description="The W3C `traceparent` this attempt sent: the event's trace id, a span id of its own")


class Delivery(BaseModel):
    """One delivery of one article version to one partner (or one WebSub ping), with its attempts."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="Stable across retries and replays: the `webhook-id` partners dedupe on")
    partner: str
    article_id: str = Field(description="The article (for a WebSub ping: the feed URL)")
    version: int
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    created_at: float
    updated_at: float
    next_attempt_at: float
    occurred_at: str | SkipJsonSchema[None] = None
    finished_at: float | SkipJsonSchema[None] = None
    replayed_at: float | SkipJsonSchema[None] = None
    replays: int | SkipJsonSchema[None] = None
    attempts_base: int | SkipJsonSchema[None] = None
    last_status: int | Literal[""] | SkipJsonSchema[None] = Field(
        default=None, description="HTTP status of the last attempt; empty when it got no answer")
    last_error: str | SkipJsonSchema[None] = None
    trace_id: str | SkipJsonSchema[None] = Field(
        default=None, description="The W3C trace id of the event (the publisher's `traceparent`, or one started on accept)")
    traceparent: str | SkipJsonSchema[None] = Field(
        default=None, description="The event's trace context the attempts descend from")
    tracestate: str | SkipJsonSchema[None] = None
    attempt_log: list[Attempt] = Field(description="Every attempt, oldest first (the newest ones, if very many)")


class DeliveryList(BaseModel):
    deliveries: list[Delivery]


class ReplayAccepted(BaseModel):
    delivery_id: str
    status: Literal["pending"]


class FeedUrls(BaseModel):
    rss: str
    atom: str
    json_: str = Field(alias="json")


class FeedInfo(BaseModel):
    name: str
    title: str
    language: str
    access: Literal["public", "partner"]
    urls: FeedUrls


class FeedList(BaseModel):
    feeds: list[FeedInfo]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    redis: Literal["ok", "unreachable"]


# --- the event request body -----------------------------------------------------------------------

EVENT_REF = "#/components/schemas/Event"
def event_components(now: datetime | None = None) -> dict[str, Any]:
    """The event schema as OpenAPI components: `Event` (the discriminated union) and its parts."""
    schema = events.event_adapter.json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs")
    schema["title"] = "Event"
    schema["description"] = ("An article event. Unknown keys are ignored; known ones are checked strictly; "
                             f"the body is at most {events.MAX_EVENT_BYTES} bytes")
    components = {**defs, "Event": schema}
    event_schema.tighten(components, event_schema.date_pattern(now))
    return components


EVENT_BODY = {
    "required": True,
    "description": "One article event (`syndication schema` prints the same schema)",
    "content": {"application/json": {"schema": {"$ref": EVENT_REF}}},
}


# --- finishing the document -----------------------------------------------------------------------


def _drop_fastapi_validation_errors(doc: dict[str, Any]) -> None:
    """FastAPI documents a 422 `HTTPValidationError` where a route declared none; ours is an ErrorBody,
    and every route that can answer 422 declares it, so the rest are removed with the unused models."""
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            ref = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if ref.get("$ref", "").endswith("/HTTPValidationError"):
                del responses["422"]
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def _unique_operation_ids(doc: dict[str, Any]) -> None:
    """One id per operation. FastAPI gives every method of a route the id it made for one of them
    (which one depends on set order, so it changes between processes); each gets its own here."""
    operations = [(method, op) for path in doc.get("paths", {}).values() for method, op in path.items()]
    seen = Counter(op.get("operationId") for _, op in operations)
    for method, operation in operations:
        op_id = operation.get("operationId")
        if op_id and seen[op_id] > 1:
            base, _, suffix = op_id.rpartition("_")
            operation["operationId"] = f"{base if suffix in _METHODS else op_id}_{method}"
    ids = Counter(op.get("operationId") for _, op in operations)
    if any(n > 1 for n in ids.values()):  # two routes with one id: a naming mistake to fix in the code
        raise RuntimeError(f"duplicate OpenAPI operationIds: {sorted(i for i, n in ids.items() if n > 1)}")


_METHODS = {"get", "head", "post", "put", "patch", "delete", "options", "trace"}


def install(app: FastAPI) -> None:
    """Make `app.openapi()` produce the finished document (built once, then cached, like FastAPI's)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        with warnings.catch_warnings():
            # FastAPI warns that GET and HEAD of one route share an id: _unique_operation_ids fixes it.
            warnings.filterwarnings("ignore", message="Duplicate Operation ID", category=UserWarning)
            doc = generate()
        _drop_fastapi_validation_errors(doc)
        _unique_operation_ids(doc)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in event_components().items():
            if name in schemas and schemas[name] != definition:
                raise RuntimeError(f"OpenAPI component {name!r} is defined twice, differently")
            schemas[name] = definition
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
