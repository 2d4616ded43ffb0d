"""Identities in every output: one `tag:` URI (RFC 4151) per article id, one URL per feed.

    tag:news.example,2026-12-07:article:desk%2F2026%2Fstory

Feeds use it as RSS guid (isPermaLink="false"), Atom entry id and JSON Feed
item id; pushes as the Atom entry id (and tombstone ref), the RSS guid and
the ninjs uri. Not the article URL: two articles may share a URL (a live
page, a re-used slug) and readers would merge them.

Why a tag URI: until issue 22 the id was `urn:syndication:article:<id>`,
which is not a URI for every id the API accepts (`/` is not allowed in an
RFC 2141 URN, `syndication` is no registered URN namespace) and which URI
normalisation could collapse (`a/../b` and `b`). Django's feed generator
mints tag URIs for the same reason (`get_tag_uri`).

- The authority is the host of SYNDICATION_BASE_URL (the newsroom's
  domain, so two newsrooms never mint the same id); IDNs are spelled in
  ASCII (punycode); a host a tag cannot name (an IPv6 address) is
  `localhost`.
- The date is fixed (TAG_DATE), never an article's own time: an id is the
  same for every version of an article and in every release of this code.
- The article id is percent-encoded with only unreserved characters, `:`
  and `@` left as they are: `/` becomes `%2F` (so no path segment, so no
  dot-segment to collapse) and `%` becomes `%25`. The encoding is one-to-one:
  distinct ids give distinct URIs, and `article_id_from_uri` gives the id back.

An id changes only when the base URL's host changes (a move to a new
domain): readers then see every item in the feed once more as new.

A feed's identity is its URL (`feed_url`): the Atom feed id, the `self` link, the topic a
WebSub hub is pinged about. It lives here, below feeds and delivery, because both name it.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

# The day tag ids were introduced (RFC 4151: a date on which the tagging entity held the domain).
# Changing it changes every id in every feed and push: never change it.
TAG_DATE = "2026-12-07"
FALLBACK_AUTHORITY = "localhost"
# RFC 4151 DNSname: DNScomp *( "." DNScomp ); DNScomp = alphanum [ *(alphanum / "-") alphanum ]
_DNS_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$")
_TAG = re.compile(r"^tag:[^,:/]+,\d{4}(?:-\d{2}){0,2}:article:([A-Za-z0-9._~:@%-]+)$")
_OLD_URN = re.compile(r"^urn:syndication:article:(\S+)$")  # before issue 22 (receivers may meet both)


def authority(base_url: str) -> str:
    """The tag authority for a base URL: its host, lower-case ASCII, if a tag can name it."""
    host = (urlsplit(base_url).hostname or "").rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return FALLBACK_AUTHORITY
    return host if len(host) <= 253 and _DNS_NAME.match(host) else FALLBACK_AUTHORITY


def article_uri(article_id: str, base_url: str) -> str:
    """`tag:<host of base_url>,<TAG_DATE>:article:<article id, percent-encoded>`."""
    return f"tag:{authority(base_url)},{TAG_DATE}:article:{quote(article_id, safe=':@')}"


def feed_url(base_url: str, name: str, fmt: str) -> str:
    """The public URL of feed `name` in format `fmt` (rss, atom, json)."""
    return f"{base_url}/feeds/{name}.{fmt}"


def article_id_from_uri(uri: str) -> str | None:
    """The article id an identity URI names (a pre-issue-22 urn too), or None if it is not one."""
    tag = _TAG.match(uri)
    if tag:
        try:
            return unquote(tag.group(1), errors="strict")
        except UnicodeDecodeError:  # not one we minted: ours encode UTF-8
            return None
    old = _OLD_URN.match(uri)
    return old.group(1) if old else None
