"""The OpenAPI document is a contract: Schemathesis checks it against the running service.

Partners generate clients from /openapi.json, so every operation in it is
fuzzed against the real processes (the `service` fixture) with every
Schemathesis check on, response-schema conformance included: no 5xx, only
documented statuses, content types and headers, bodies that match their
schemas, schema-valid requests accepted and invalid ones rejected, keys
enforced where the document says a key is needed, unlisted methods 405 with
`Allow`, every answer within MAX_RESPONSE_TIME. Phases: examples, coverage
(boundaries and one mutation at a time) and fuzzing (MAX_EXAMPLES per
operation), derandomized with a fixed seed. Schemathesis's stateful phase
needs links, which the document has none of; the paths it would walk (an
event, then its article, its deliveries, a replay, its feeds) are walked by
test_real_resources_keep_the_contract, with the same checks, on resources
that really exist, which random ids seldom reach.

Each operation gets the key its security scheme names (publisher for
/v1/events, ops for /v1/deliveries*, the partner feed key for feeds; the
optional publisher key for articles), as a client holding it would send it.

No operation and no check is excluded, and no generated input is adjusted. Side effects are
contained so that other modules still hold: the throttle's count of wrong
keys (Schemathesis sends wrong keys on purpose) is cleared after every
request, and the articles Schemathesis publishes are taken out of the feed
indexes at the end (their random publish dates, up to 2035, would sit
above every later test's article in the `all` feed).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig

from syndication.articles import ArticleStore
from syndication.api.app import create_app
from syndication.delivery import records
from syndication.configuration import load_settings
from tests.conftest import API_KEY, FEED_KEY, OPS_KEY
from tests.support.events import article_event, withdrawal
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 40  # per operation, fuzzing phase; the coverage phase adds its own (boundaries, each mutation)
MAX_RESPONSE_TIME = 5.0  # seconds: the deadline of every answer (a failed check, not a skip)
REQUEST_TIMEOUT = 10.0

CONFIG = {
    "seed": 20261125,
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
    # Every check, with its default expectations; max_response_time is the only one that needs a value.
    "checks": {"enabled": True, "max_response_time": MAX_RESPONSE_TIME},
    "request-timeout": REQUEST_TIMEOUT,
}

tally: Counter = Counter()  # (operation, status) -> requests, for the summary printed at the end
published: set[str] = set()  # ids of the articles Schemathesis's accepted events are about


def key_for(path: str) -> str | None:
    """The key a client of this operation holds (the document's security scheme for it)."""
    if path == "/v1/events" or path.startswith("/v1/articles/"):
        return API_KEY
    if path.startswith("/v1/deliveries") or "/dead-letters/" in path or path.endswith("/backfill"):
        return OPS_KEY
    if path.startswith("/feeds/"):
        return FEED_KEY
    return None


def headers_for(path: str) -> dict[str, str]:
    key = key_for(path)
    return {"Authorization": f"Bearer {key}"} if key else {}


def clear_throttle(service) -> None:
    # Schemathesis sends a wrong key after each accepted request to check the key is enforced; ten
    # of those in a minute and the throttle (throttle.py) would answer 429 to everything from this
    # address, here and in the modules after this one. The throttle has tests of its own.
    service.ctx.redis.delete(service.ctx.keys.auth_failures("127.0.0.1"))


def served_document() -> dict:
    """The document the API serves, built by the same code without a network (nothing connects)."""
    settings = load_settings({"SYNDICATION_REDIS_URL": "redis://127.0.0.1:1/0"})
    return create_app(settings, enqueue=lambda _: None).openapi()


# Built at import so that pytest can collect one test per operation (Schemathesis's lazy
# `from_fixture` loader can't run on pytest 9). test_the_served_document_is_the_one_tested checks
# it is exactly what the running service's /openapi.json says.
DOCUMENT = served_document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=SchemathesisConfig.from_dict(CONFIG))


@pytest.fixture(scope="module")
def contained(service):
    """Undo what the contract run leaves behind that other modules would notice; print the tally."""
    yield
    _forget_published(service)
    clear_throttle(service)
    print("\ncontract: requests by operation and status:")
    for (operation, status), n in sorted(tally.items()):
        print(f"  {operation:45} {status}: {n}")
    print(f"  total {sum(tally.values())} requests; {len(published)} articles published")


def _forget_published(service) -> None:
    """Take Schemathesis's articles out of every feed index once they are applied."""
    ctx = service.ctx
    if not published:
        return
    wait_for(lambda: ctx.redis.zcard(ctx.keys.events_pending) == 0, timeout=60, what="contract events applied")
    pipe = ctx.redis.pipeline(transaction=False)
    for spec in ctx.settings.feeds:
        pipe.zrem(ctx.keys.feed_items(spec.name), *published)
        pipe.zadd(ctx.keys.feeds_dirty, {spec.name: time.time()}, nx=True)  # the sweeper re-renders it
    pipe.zrem(ctx.keys.articles, *published)
    pipe.execute()


def test_the_served_document_is_the_one_tested(service):
    """The document fuzzed below is exactly the one the running service serves."""
    served = requests.get(f"{service.api_url}/openapi.json", timeout=10).json()
    assert served == DOCUMENT


@schema.parametrize()
def test_every_operation_keeps_its_contract(case, service, contained):
    path = case.operation.path
    try:
        response = case.call_and_validate(base_url=service.api_url, headers=headers_for(path))
    finally:
        clear_throttle(service)
    tally[(f"{case.method} {path}", response.status_code)] += 1
    if path == "/v1/events" and response.status_code == 202:  # 200, a repeat event_id, changes nothing
        published.add(case.body["article"]["id"])


def check(service, path: str, method: str = "GET", key: str | None = None, **given):
    """One request built from the document's operation, with every check (only the
    generation-mode ones, which need a generated case, stand aside)."""
    case = schema[path][method].Case(**given)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = case.call_and_validate(base_url=service.api_url, headers=headers)
    finally:
        clear_throttle(service)
    tally[(f"{method} {path} (real)", response.status_code)] += 1
    return response


def test_real_resources_keep_the_contract(service, unique, contained):
    """What random ids seldom reach: an applied article, its deliveries, rendered feeds, a tombstone."""
    aid = f"contract-{unique}"
    event = article_event(aid)  # categories Economy: in the public `all` and `economy` feeds; partner-a
    assert check(service, "/v1/events", "POST", API_KEY, body=event).status_code == 202
    assert check(service, "/v1/events", "POST", API_KEY, body=event).status_code == 200  # a repeat
    ctx = service.ctx
    wait_for(lambda: any(r["partner"] == "partner-a" and r["status"] == "delivered"
                         for r in records.for_article(ctx, aid)), timeout=30, what="delivered to partner-a")
    wait_for(lambda: aid.encode() in requests.get(f"{service.api_url}/feeds/economy.json", timeout=5).content,
             timeout=30, what="in the economy feed")

    article = check(service, "/v1/articles/{article_id}", key=API_KEY, path_parameters={"article_id": aid})
    assert article.json()["article"]["id"] == aid
    anonymous = check(service, "/v1/articles/{article_id}", path_parameters={"article_id": aid})
    assert anonymous.json()["status"] == "published"  # a public feed carries it

    by_article = check(service, "/v1/deliveries", key=OPS_KEY, query={"article_id": aid}).json()["deliveries"]
    delivered = next(d for d in by_article if d["partner"] == "partner-a")
    assert delivered["attempt_log"]
    check(service, "/v1/deliveries", key=OPS_KEY, query={"article_id": aid, "partner": "partner-a"})
    check(service, "/v1/deliveries", key=OPS_KEY, query={"partner": "partner-a", "state": "delivered",
                                                         "limit": 5})
    newest = check(service, "/v1/deliveries", key=OPS_KEY, query={"limit": 1000}).json()["deliveries"]
    assert delivered["id"] in {d["id"] for d in newest}
    one = check(service, "/v1/deliveries/{delivery_id}", key=OPS_KEY,
                path_parameters={"delivery_id": delivered["id"]})
    assert one.json()["status"] == "delivered"
    replay = check(service, "/v1/deliveries/{delivery_id}/replay", "POST", OPS_KEY,
                   path_parameters={"delivery_id": delivered["id"]})
    assert replay.status_code == 409  # a finished delivery is never replayed

    check(service, "/feeds")
    for fmt in ("rss", "atom", "json"):
        feed = check(service, "/feeds/{filename}", path_parameters={"filename": f"economy.{fmt}"})
        assert feed.status_code == 200
        [etag] = feed.headers["etag"]  # Schemathesis responses: lowercase names, lists of values
        assert check(service, "/feeds/{filename}", path_parameters={"filename": f"economy.{fmt}"},
                     headers={"If-None-Match": etag}).status_code == 304
        check(service, "/feeds/{filename}", "HEAD", path_parameters={"filename": f"economy.{fmt}"})
    wait_for(lambda: requests.get(f"{service.api_url}/feeds/partners-only.rss", timeout=5,
                                  headers={"Authorization": f"Bearer {FEED_KEY}"}).status_code == 200,
             timeout=30, what="partner feed rendered")
    assert check(service, "/feeds/{filename}", key=FEED_KEY,
                 path_parameters={"filename": "partners-only.rss"}).status_code == 200
    anonymous_feed = check(service, "/feeds/{filename}", path_parameters={"filename": "partners-only.rss"})
    assert anonymous_feed.status_code == 401
    for path in ("/healthz", "/readyz", "/metrics"):
        check(service, path)

    assert check(service, "/v1/events", "POST", API_KEY, body=withdrawal(aid, 2)).status_code == 202
    wait_for(lambda: ArticleStore.of(ctx).get(aid).withdrawn, timeout=30, what="withdrawn")
    tombstone = check(service, "/v1/articles/{article_id}", path_parameters={"article_id": aid}).json()
    assert (tombstone["status"], tombstone["article"]) == ("withdrawn", None)
    full = check(service, "/v1/articles/{article_id}", key=OPS_KEY, path_parameters={"article_id": aid}).json()
    assert full["withdrawn_reason"] == "test withdrawal"


def test_fuzzed_articles_read_back_within_the_contract(service, contained):
    """The articles Schemathesis published, as the service stored and cleaned them, read back through
    the API: their state and deliveries must fit the response schemas too. (Runs after the fuzzing
    above, which fills `published`; alone, it checks nothing.)"""
    ctx = service.ctx
    wait_for(lambda: ctx.redis.zcard(ctx.keys.events_pending) == 0, timeout=60, what="contract events applied")
    for aid in sorted(published):
        assert check(service, "/v1/articles/{article_id}", key=API_KEY,
                     path_parameters={"article_id": aid}).status_code == 200
        check(service, "/v1/articles/{article_id}", path_parameters={"article_id": aid})
        check(service, "/v1/deliveries", key=OPS_KEY, query={"article_id": aid})


def test_an_integral_json_number_is_an_integer(service, unique):
    """JSON has one number type: `"version": 1.0` is the integer 1 (JSON Schema says so too)."""
    event = article_event(f"int-{unique}")
    event["article"]["version"] = 1.0
    r = requests.post(f"{service.api_url}/v1/events", data=json.dumps(event), headers=service.headers(),
                      timeout=10)
    assert r.status_code == 202, r.text
