"""Hostile parameters: every number, time and id a caller types is read strictly (issue 22, items 4 and 8).

Against the running service (the session `service` fixture: real API, Redis and workers) and the
real CLI: each HTTP parameter, JSON field and CLI option that reaches a Redis argument (a
ZRANGEBYSCORE score, a range index or LIMIT count, a key built from an id) or a deadline gets
every spelling Python's own readers take but no syntax of ours promises: other scripts' digits
('١٢'), spaces and a trailing newline, '1_000', signs, 'nan', 'inf', '1e999', zone-less (or
year-1 zone-less: a traceback once) and ISO-week times, impossible dates, JSON `true` for a
number and "yes" for a boolean. Each must be a 422 whose `problems` name the field (HTTP), or
exit 2 with one line naming the option and no traceback (CLI); never a 5xx, never accepted. The
valid neighbours of each (including legal RFC 3339 oddities: lower-case t and z, nine fraction
digits, a leap second, a year-1 or far-past bound, which selects what 1900 does) still work. CLI
runs that would change something are dry runs.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import requests

from tests.conftest import OPS_KEY
from tests.support import cli
from tests.support.events import article_event
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration
OPS = {"Authorization": f"Bearer {OPS_KEY}"}
PARTNER = "pausable"  # a push partner of the session whose category no other test's backfill touches
UNKNOWN_DELIVERY = "msg_" + "0" * 26

# What int()/float() (and pydantic's lax mode) read as numbers; none is a number to us.
LAX_NUMBERS = ["١٢", "１２", " 12", "12 ", "12\n", "1_000", "+12", "-1", "12.0", "1e3", "0x10", "nan", "inf",
               "1e999", "9" * 40, "0"]
# What fromisoformat, `\d` or `$` let through, and times that name no instant we can use.
LAX_TIMES = ["١٢h", "2h\n", " 2h", "1_0h", "nanh", "2026-05-01", "2026-05-01T06:00:00", "2026-W18-5T06:00:00Z",
             "20260501T060000Z", "2026-05-01T06:00Z", "2026-05-01T06:00:00Z\n", "٢٠٢٦-05-01T06:00:00Z",
             "0001-01-01", "2026-02-30T06:00:00Z", "2026-05-01T06:00:00+24:00", "1e3h", "nan", "inf"]
# Ids no article, partner or delivery can have: Redis glob and range syntax, newlines, NUL, length.
BAD_ARTICLE_IDS = ["a%0A", "a%20b", "%2A", "a%5B0%5D", "%C3%A9", "a%00b", "-a", "x" * 201, "%E2%80%AE"]
BAD_PARTNER_IDS = ["a:b", "%2A", "a%0A", "x" * 65, "-a", "a%5Cb", "%C3%A9"]
BAD_DELIVERY_IDS = ["nope", UNKNOWN_DELIVERY + "%0A", UNKNOWN_DELIVERY[:-1], UNKNOWN_DELIVERY.upper(), "%2A",
                    "msg_" + "0" * 25 + "%3F", "msg_%5B0-9%5D"]


def refused(resp: requests.Response, field: str) -> str | None:
    """None if the answer is a 422 whose problems name `field`; else what was wrong."""
    if resp.status_code != 422:
        return f"{resp.status_code} {resp.text[:160]}"
    doc = resp.json()
    named = {p["field"] for p in doc.get("problems") or []}
    if doc.get("error") != "invalid_request" or not doc.get("detail") or field not in named:
        return f"422 not naming {field}: {doc}"
    return None


def check_all(cases) -> None:
    """Every (label, failure-or-None); fails with the whole list, so one run shows every case."""
    failures = [f"{label}: {why}" for label, why in cases if why]
    assert not failures, f"{len(failures)} hostile values not refused:\n" + "\n".join(failures)


@pytest.fixture(scope="module")
def real(service):
    """An article with a delivery record, so valid neighbours have something to find."""
    aid = f"hostile-params-{datetime.now(timezone.utc):%H%M%S%f}"
    resp = requests.post(f"{service.api_url}/v1/events", data=json.dumps(article_event(aid, categories=["Listing"])),
                         headers=service.headers(), timeout=10)
    assert resp.status_code == 202, resp.text
    mine = {"article_id": aid, "partner": "listing"}
    recs = wait_for(lambda: requests.get(f"{service.api_url}/v1/deliveries", params=mine, headers=OPS,
                                         timeout=5).json()["deliveries"], what="a delivery record")
    return {"article": aid, "delivery": recs[0]["id"]}


def get(service, path: str, **params) -> requests.Response:
    return requests.get(f"{service.api_url}{path}", params=params, headers=OPS, timeout=10)


def test_query_parameters_are_read_strictly(service, real):
    cases = [(f"limit={v!r}", refused(get(service, "/v1/deliveries", limit=v), "query.limit")) for v in LAX_NUMBERS]
    cases += [(f"limit={v!r}", refused(get(service, "/v1/deliveries", limit=v), "query.limit"))
              for v in ("1001", "99999999999999999999999")]
    url = f"{service.api_url}/v1/deliveries"
    for raw in BAD_ARTICLE_IDS:
        resp = requests.get(f"{url}?article_id={raw}", headers=OPS, timeout=10)
        cases.append((f"article_id={raw}", refused(resp, "query.article_id")))
    for raw in BAD_PARTNER_IDS:
        resp = requests.get(f"{url}?partner={raw}", headers=OPS, timeout=10)
        cases.append((f"partner={raw}", refused(resp, "query.partner")))
    check_all(cases)
    # The neighbours: plain digits, real ids.
    assert get(service, "/v1/deliveries", limit="1").status_code == 200
    assert len(get(service, "/v1/deliveries", limit="0003").json()["deliveries"]) <= 3
    found = get(service, "/v1/deliveries", article_id=real["article"], partner="listing", limit="1000").json()
    assert [d["id"] for d in found["deliveries"]] == [real["delivery"]]
    assert get(service, "/v1/deliveries", partner="listing", state="delivered", limit="5").status_code == 200


def test_path_ids_are_read_strictly(service, real):
    base, cases = service.api_url, []
    for raw in BAD_DELIVERY_IDS:
        cases.append((f"GET deliveries/{raw}", refused(
            requests.get(f"{base}/v1/deliveries/{raw}", headers=OPS, timeout=10), "path.delivery_id")))
        for verb in ("replay", "discard"):
            cases.append((f"POST deliveries/{raw}/{verb}", refused(
                requests.post(f"{base}/v1/deliveries/{raw}/{verb}", headers=OPS, timeout=10), "path.delivery_id")))
    for raw in BAD_PARTNER_IDS:
        for verb in ("dead-letters/replay", "dead-letters/discard", "backfill"):
            resp = requests.post(f"{base}/v1/partners/{raw}/{verb}", json={"last": 1}, headers=OPS, timeout=10)
            cases.append((f"POST partners/{raw}/{verb}", refused(resp, "path.partner_id")))
    for raw in BAD_ARTICLE_IDS:
        for headers in ({}, OPS):
            resp = requests.get(f"{base}/v1/articles/{raw}", headers=headers, timeout=10)
            cases.append((f"GET articles/{raw} {'ops' if headers else 'anonymous'}", refused(resp, "path.article_id")))
    # /ops answers with a note: a `{id:path}` cut at a newline (Starlette's `$`) must not act on `evt`.
    for raw in ("evt%0A", "evt%0D%0A", "evt%00"):
        resp = requests.post(f"{base}/ops/replay-event/{raw}", headers=OPS, allow_redirects=False, timeout=10)
        where = resp.headers.get("Location", "")
        cases.append((f"POST /ops/replay-event/{raw}", None if resp.status_code == 303 and "control%20character"
                      in where else f"{resp.status_code} {where}"))
    check_all(cases)
    # The neighbours: an unknown id of the right shape is 404, a real one is found.
    assert requests.get(f"{base}/v1/deliveries/{UNKNOWN_DELIVERY}", headers=OPS, timeout=10).status_code == 404
    assert requests.post(f"{base}/v1/deliveries/{UNKNOWN_DELIVERY}/replay", headers=OPS, timeout=10).status_code == 404
    assert requests.get(f"{base}/v1/deliveries/{real['delivery']}", headers=OPS, timeout=10).status_code == 200
    assert requests.post(f"{base}/v1/partners/nobody/dead-letters/replay", headers=OPS, timeout=10).status_code == 404
    assert requests.get(f"{base}/v1/articles/no-such-article", timeout=10).status_code == 404
    assert requests.get(f"{base}/v1/articles/{real['article']}", headers=OPS, timeout=10).status_code == 200
    # The key is still checked first: no answer about the id to a caller without one.
    assert requests.get(f"{base}/v1/deliveries/nope", timeout=10).status_code == 401


def test_backfill_body_takes_exact_json_types(service):
    url = f"{service.api_url}/v1/partners/{PARTNER}/backfill"
    bodies = [({"last": v}, "body.last") for v in (True, False, "5", "١٢", 5.5, "1_000", [5], {"n": 5})]
    bodies += [({"since": "1s", "force": v}, "body.force") for v in ("yes", "true", 1, 0, "no", None, [])]
    bodies += [({"since": v}, "body.since") for v in LAX_TIMES]
    bodies += [({"since": v}, "body.since") for v in (1764000000, 1764000000.5, True, ["2h"])]
    check_all((json.dumps(body, ensure_ascii=False), refused(requests.post(url, json=body, headers=OPS, timeout=10),
                                                            field)) for body, field in bodies)
    # The neighbours: exact types, legal RFC 3339 in its rarer spellings, an integral float.
    for body in ({"last": 1}, {"last": 1.0, "force": False}, {"since": "1s"}, {"since": "0.5h"},
                 {"since": f"{datetime.now(timezone.utc):%Y-%m-%dt%H:%M:%S}.123456789z"},
                 {"since": "2016-12-31T23:59:60Z", "force": False}, {"since": "2026-05-01 06:00:00+05:00"},
                 # Outside the window event dates lie in (1900 .. 10 years ahead): the same as its edge.
                 {"since": "0001-01-01T00:00:00+14:00"}, {"since": "999999999999.5d"}):
        resp = requests.post(url, json=body, headers=OPS, timeout=10)
        assert resp.status_code == 202, (body, resp.text)


def cli_refused(out: cli.Outcome, option: str) -> str | None:
    """None if the command exited 2 with one line naming `option` (and did nothing); else what it did."""
    if isinstance(out, str):
        return out
    lines = out.stderr.strip().splitlines()
    if out.returncode != 2 or len(lines) != 1 or option not in lines[0] or "Traceback" in out.stderr:
        return f"exit {out.returncode}, stderr {out.stderr.strip()[-300:]!r}, stdout {out.stdout.strip()[:120]!r}"
    return None


# A sample of each list per CLI option; the full lists go to --last and the API.
SOME_NUMBERS = ["١٢", " 12", "12\n", "1_000", "+12", "-1", "0", "nan", "1e3", "9" * 40]
SOME_TIMES = ["١٢h", "2h\n", "2026-05-01", "2026-05-01T06:00:00", "2026-W18-5T06:00:00Z", "0001-01-01",
              "2026-02-30T06:00:00Z", "1e3h"]
# (option, the command up to its value, hostile values). Whatever could change something is a dry run.
CLI_OPTIONS = [
    ("--last", ["partners", "backfill", PARTNER, "--dry-run", "--last"], LAX_NUMBERS + ["10001"]),
    ("--since", ["partners", "backfill", PARTNER, "--dry-run", "--since"], SOME_TIMES),
    ("--since", ["deliveries", "replay", "--dry-run", "--since"], SOME_TIMES),
    ("--until", ["deliveries", "replay", "--dry-run", "--until"], SOME_TIMES[:4]),
    ("--wait", ["deliveries", "replay", UNKNOWN_DELIVERY, "--dry-run", "--wait"],
     ["nan", "inf", "-1", "١٢", "1e3", "86401"]),
    ("--since", ["deliveries", "list", "--partner", "listing", "--since"], SOME_TIMES[:4]),
    ("--limit", ["deliveries", "list", "--partner", "listing", "--limit"], SOME_NUMBERS),
    ("--limit", ["events", "dead", "--limit"], SOME_NUMBERS),
    ("--watch", ["status", "--watch"], ["nan", "inf", "-1", "١", "1e3"]),
]


def test_cli_options_are_read_strictly(service, tmp_path):
    runs = [(option, command + [value]) for option, command, values in CLI_OPTIONS for value in values]
    # All ~75 runs through the CLI's main in one interpreter (tests/support/cli.py): each is refused
    # at its parse, so a process apiece would cost Python's start-up 75 times for nothing more.
    outs = cli.run_in_one(service.env, [args for _, args in runs], tmp_path)
    check_all((" ".join(args), cli_refused(out, option)) for (option, args), out in zip(runs, outs))


def test_cli_neighbours_still_work(service):
    now = f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%S}Z"
    for args in (["partners", "backfill", PARTNER, "--dry-run", "--last", "1"],
                 ["partners", "backfill", PARTNER, "--dry-run", "--since", "2026-05-01t06:00:00.5z"],
                 ["partners", "backfill", PARTNER, "--dry-run", "--since", "0001-01-01T00:00:00Z"],
                 ["deliveries", "replay", "--dry-run", "--since", "1m", "--until", now],
                 ["deliveries", "list", "--partner", "listing", "--limit", "1", "--since", "1h"],
                 ["events", "dead", "--limit", "1"]):
        out = cli.run(service.env, *args)
        assert not isinstance(out, str) and out.returncode == 0, (args, out)
