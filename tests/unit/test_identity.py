"""The article identity (syndication/identity.py): a valid tag URI for every id the API accepts,
one-to-one, never collapsed by URI normalisation, and the same in every release (issue 22 item 5)."""

from __future__ import annotations

import re

import idna
import pytest
from hypothesis import given, settings, strategies as st

from syndication.events import ID_PATTERN, parse_event
from syndication.identity import TAG_DATE, article_id_from_uri, article_uri, authority
from tests.support.events import article_event

BASE = "https://news.example"

# RFC 4151 section 2.1 with RFC 3986 pchar / pct-encoded, as ABNF says, nothing more.
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|%[0-9A-Fa-f]{{2}})"
_DNSCOMP = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DATE = r"\d{4}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?)?"
TAG_URI = re.compile(rf"^tag:{_DNSCOMP}(?:\.{_DNSCOMP})*,{_DATE}:(?:{_PCHAR}|[/?])*$")


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, as a URI normaliser applies it to a URI's path."""
    out: list[str] = []
    while path:
        if path.startswith(("../", "./")):
            path = path[path.index("/") + 1:]
        elif path.startswith("/./") or path == "/.":
            path = "/" + path[3:]
        elif path.startswith("/../") or path == "/..":
            path = "/" + path[4:]
            if out:
                out.pop()
        elif path in (".", ".."):
            path = ""
        else:
            start = 1 if path.startswith("/") else 0
            end = path.find("/", start)
            end = len(path) if end < 0 else end
            out.append(path[:end])
            path = path[end:]
    return "".join(out)


def normalised(uri: str) -> str:
    scheme, _, path = uri.partition(":")  # a tag URI has no authority component: all of it is path
    return f"{scheme.lower()}:{remove_dot_segments(path)}"


ACCEPTED = st.from_regex(ID_PATTERN, fullmatch=True)


def test_pinned_spelling_never_changes():
    """Feed readers and partners dedupe by this string: a release that changes it re-sends every item."""
    assert TAG_DATE == "2026-12-07"
    assert article_uri("kk-2026-11-20-lrt", BASE) == "tag:news.example,2026-12-07:article:kk-2026-11-20-lrt"
    assert article_uri("desk/2026/a.b", "https://News.Example:8443/feeds") == \
        "tag:news.example,2026-12-07:article:desk%2F2026%2Fa.b"
    assert article_uri("a:b@c", BASE) == "tag:news.example,2026-12-07:article:a:b@c"
    assert article_uri("x", "http://127.0.0.1:8000") == "tag:127.0.0.1,2026-12-07:article:x"


def test_slash_and_dot_segments_never_collapse():
    ids = ["a/../b", "b", "a/b", "a/./b", "a//b", "a/b/", ".", "..", "a%2Fb", "a/%2E%2E/b"]
    uris = [article_uri(i, BASE) for i in ids]
    assert len(set(uris)) == len(ids)
    assert len({normalised(u) for u in uris}) == len(ids)
    for uri in uris:
        assert "/" not in uri and normalised(uri) == uri, uri


@settings(max_examples=500, deadline=None)
@given(ACCEPTED)
def test_every_accepted_id_is_a_valid_tag_uri_that_gives_the_id_back(aid):
    uri = article_uri(aid, BASE)
    assert TAG_URI.match(uri), uri
    assert normalised(uri) == uri  # nothing for a normaliser to merge
    assert article_id_from_uri(uri) == aid  # one-to-one: distinct ids, distinct URIs


@settings(max_examples=300, deadline=None)
@given(ACCEPTED, ACCEPTED)
def test_distinct_ids_stay_distinct(a, b):
    assert (article_uri(a, BASE) == article_uri(b, BASE)) == (a == b)


@pytest.mark.parametrize("aid", ["desk/2026/story", "a/../b", "kz:1@desk", "x" * 200, "a" + "." * 199])
def test_ids_the_api_accepts_are_valid(aid):
    event = article_event(aid, event_id="evt-1", headline="H", summary="S", url="https://news.example/x")
    event = parse_event(event)  # accepted by the API's own validation
    assert TAG_URI.match(article_uri(event.article.id, BASE))


def test_the_version_and_the_time_play_no_part():
    # The uri is a function of the id and the base URL only: every version of an article is one entry.
    assert article_uri.__code__.co_varnames[:2] == ("article_id", "base_url")
    assert article_uri.__code__.co_argcount == 2


@pytest.mark.parametrize("base_url,expected", [
    ("https://news.example", "news.example"),
    ("https://NEWS.example.:443/x", "news.example"),
    ("http://127.0.0.1:8000", "127.0.0.1"),
    ("https://жаңалықтар.kz", idna.encode("жаңалықтар.kz").decode()),  # IDNA 2008, an independent coder
    ("http://[::1]:8000", "localhost"),  # a tag cannot name an IPv6 address
    ("http://under_score.example", "localhost"),
    ("", "localhost"),
])
def test_authority_is_the_base_urls_host_when_a_tag_can_name_it(base_url, expected):
    assert authority(base_url) == expected
    assert TAG_URI.match(article_uri("x", base_url))


def test_ids_read_back_from_uris_even_the_old_urns():
    assert article_id_from_uri("tag:news.example,2026-12-07:article:desk%2Fx") == "desk/x"
    assert article_id_from_uri("urn:syndication:article:old-1") == "old-1"
    for junk in ("", "tag:news.example,2026-12-07:article:", "tag:x,2026:article:%FF", "https://x/a",
                 "tag:news.example,2026-12-07:article:a b"):
        assert article_id_from_uri(junk) is None, junk
