"""Every feed and every XML push passes the W3C feed validator (issue 22, item 5), on real processes.

Runs after every other test of the session (marked `runs_last`, tests/support/ordering.py) on
the session `service`: the feeds it checks then hold what every earlier test, the hostile-input
ones included, left in them, plus a range of hostile articles posted here: ids with `/` and
dot-segments, no authors (with and without a `source`), IRIs and characters URIs cannot hold
in article and image URLs, markup and control characters in plain-text fields, an embargo
instant, a withdrawal.

- every feed `GET /feeds` lists, in RSS and Atom (the partner feeds with a feed key), is
  validated by the vendored W3C validator (tests/vendor/feedvalidator/, tests/support/w3c.py) as
  served (its Content-Type checked too): zero errors;
- every Atom and RSS push the `fmt-atom` and `fmt-rss` partners received for those articles
  is validated the same way. A withdrawal in Atom is an RFC 6721 `at:deleted-entry`, a
  document the validator does not know (it is no feed and no entry): it is checked here for
  what the validator would check, a `ref` that is the id of the entry it deletes, a `when`
  that is an RFC 3339 date.

On the code before the fix it fails: Atom entries without an author, `urn:syndication:article:`
ids that are not URNs, IRIs in RSS links.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from lxml import etree

from tests.conftest import FEED_KEY
from tests.support import w3c
from tests.support.events import article_event, withdrawal
from tests.support.processes import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.runs_last]
ATOM = "{http://www.w3.org/2005/Atom}"
TOMBSTONE = "{http://purl.org/atompub/tombstones/1.0}deleted-entry"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
XML_PUSHES = ("fmt-atom", "fmt-rss")  # tests/support/config.py: category FormatTest


def hostile_events(u: str) -> tuple[dict[str, dict], str]:
    """{id prefix: event} of hostile articles, and the prefix of the one withdrawn afterwards.
    Every id holds its prefix before any `/`, so the prefix finds it in any output."""
    past = (datetime.now(timezone.utc) - timedelta(minutes=5)).replace(microsecond=0).isoformat()
    cats = ["FormatTest", "Economy"]
    specs = {
        f"w3c-{u}-slash": dict(suffix="/desk/../story", authors=[], source=None,
                               url=f"https://пример.kz/жаңалық/{u}|x?{{a}}=1&b=^#f#g"),
        f"w3c-{u}-dots": dict(suffix="/a/./b/..", authors=[], language="kk",
                              headline="Bad\x0b chars \ufffe & <script>alert(1)</script> ]]>",
                              summary="&lt;img src=x onerror=alert(1)&gt; \u2028 \u202e",
                              url=f"https://news.example/{u}/a[1]%zz`",
                              images=[{"url": f"https://news.example/{u}/ä|{{1}}.png", "mime_type": "image/png",
                                       "length": 10, "caption": "<b>cap</b> & \x0c"}]),
        f"w3c-{u}-marks": dict(suffix=":x@y.", authors=["<img src=x onerror=alert(6)>Ann & Bob", "Дәулет"],
                               categories=[*cats, "<svg onload=alert(7)>"], embargoed=past,
                               body_html='<p onclick="x()">ok</p><a href="javascript:alert(5)">x</a>'
                                         '<img src="https://news.example/i.jpg">'),
        f"w3c-{u}-gone": dict(suffix="/a", source=None, authors=[]),
    }
    events = {}
    for prefix, spec in specs.items():
        spec = dict(spec)
        aid = prefix + spec.pop("suffix")
        spec.setdefault("categories", cats)
        spec.setdefault("url", f"https://news.example/en/{prefix}")
        events[prefix] = article_event(aid, **spec)
    return events, f"w3c-{u}-gone"


def post(service, event: dict) -> None:
    resp = requests.post(f"{service.api_url}/v1/events", data=json.dumps(event, ensure_ascii=False).encode(),
                         headers=service.headers(), timeout=10)
    assert resp.status_code == 202, resp.text


def served(service, feed: dict, fmt: str) -> requests.Response | None:
    headers = {"Authorization": f"Bearer {FEED_KEY}"} if feed["access"] == "partner" else {}
    resp = requests.get(feed["urls"][fmt], headers=headers, timeout=10)
    if resp.status_code == 503:  # not rendered yet
        return None
    assert resp.status_code == 200, (feed["name"], fmt, resp.status_code, resp.text)
    return resp


def holds_all(service, prefixes) -> bool:
    feeds = {f["name"]: f for f in requests.get(f"{service.api_url}/feeds", timeout=10).json()["feeds"]}
    for fmt in ("rss", "atom"):
        resp = served(service, feeds["all"], fmt)
        if resp is None or not all(p.encode() in resp.content for p in prefixes):
            return False
    return True


def problems(body: bytes, content_type: str, base: str, expected_type: str) -> list[str]:
    report = w3c.validate(body, content_type=content_type, base=base)
    found = list(report.errors)
    if report.feed_type != expected_type:
        found.append(f"validated as {report.feed_type}, not {expected_type}")
    return found


def test_every_feed_in_every_xml_format_passes_the_w3c_validator(service):
    events, _ = hostile_events(uuid.uuid4().hex[:8])
    for event in events.values():
        post(service, event)
    wait_for(lambda: holds_all(service, events), timeout=30, what="the hostile articles in feed `all`")

    listed = requests.get(f"{service.api_url}/feeds", timeout=10).json()["feeds"]
    assert {"all", "partners-only"} <= {f["name"] for f in listed}
    failures, checked = {}, 0
    for feed in listed:
        for fmt in ("rss", "atom"):
            resp = wait_for(lambda: served(service, feed, fmt), timeout=30, what=f"{feed['name']}.{fmt}")
            found = problems(resp.content, resp.headers["Content-Type"], feed["urls"][fmt], fmt)
            checked += 1
            if found:
                failures[f"{feed['name']}.{fmt}"] = found
    assert not failures, json.dumps(failures, indent=1, ensure_ascii=False)
    assert checked == 2 * len(listed)


def entry_id(push_body: bytes) -> str | None:
    root = etree.fromstring(push_body)
    return root.findtext(f"{ATOM}id") if root.tag == f"{ATOM}entry" else None


def test_atom_and_rss_pushes_pass_the_w3c_validator(service):
    u = uuid.uuid4().hex[:8]
    events, gone = hostile_events(u)
    for event in events.values():
        post(service, event)

    def pushed(prefix: str, count: int) -> dict[str, list]:
        got = {pid: service.partners[pid].for_article(prefix) for pid in XML_PUSHES}
        return got if all(len(v) >= count for v in got.values()) else {}

    for prefix in events:
        wait_for(lambda: pushed(prefix, 1), timeout=30, what=f"{prefix} pushed in atom and rss")
    post(service, withdrawal(events[gone]["article"]["id"], 2))
    wait_for(lambda: pushed(gone, 2), timeout=30, what="the withdrawal pushed in atom and rss")

    failures, tombstones = {}, 0
    for prefix in events:
        for pid, requests_ in pushed(prefix, 1).items():
            ids = set()
            for n, req in enumerate(requests_):
                content_type = req.headers["content-type"]
                root = etree.fromstring(req.body)
                if root.tag == TOMBSTONE:  # RFC 6721: what the W3C validator has no grammar for
                    tombstones += 1
                    ids.add(root.get("ref"))
                    found = [] if RFC3339.match(root.get("when") or "") else [f"when={root.get('when')!r}"]
                else:
                    expected = "atom entry" if pid == "fmt-atom" else "rss"
                    found = problems(req.body, content_type, "", expected)
                    ids.add(entry_id(req.body) or root.findtext("channel/item/guid"))
                if found:
                    failures[f"{pid} {prefix} #{n}"] = found
            if len(ids) != 1:  # one article, one id, in every version and the tombstone
                failures[f"{pid} {prefix} ids"] = sorted(map(str, ids))
    assert not failures, json.dumps(failures, indent=1, ensure_ascii=False)
    assert tombstones >= 1
