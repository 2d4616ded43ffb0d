"""Article and image URLs as the URIs that feeds must carry (RFC 3987 section 3.1).

The API accepts what newsrooms send: IRIs (`https://пример.kz/жаңалық`) and
characters that browsers take but RFC 3986 does not (`{}|^` and backquote,
`[`/`]` outside an IPv6 host, a `%` not followed by two hex digits). RSS 2.0
wants URLs and the W3C feed validator rejects any of those ("IRI found where
URL expected", "Invalid character in a URI"). `as_uri` maps a URL to the URI
that names the same resource, the way RFC 3987 maps an IRI: a non-ASCII host
in IDNA (punycode), every other character a URI cannot hold percent-encoded
as UTF-8. A URL that already is a valid URI comes back unchanged; stored data
is never touched, only what a feed or a push shows.

RSS is stricter (`rss_url`): its links and enclosures are http URLs of a
named host, so credentials and a trailing dot go, and a URL whose host is no
domain name or IPv4 address is left out of RSS (Atom and JSON Feed keep it).
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

# RFC 3986: sub-delims, ":" and "@" are allowed in a path, and "/" and "?" in a query or fragment too.
_PATH_SAFE = "!$&'()*+,;=:@/"
_QUERY_SAFE = _PATH_SAFE + "?"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# What RSS readers (and the W3C validator) take as the host of an http URL: a dotted name or IPv4.
_RSS_HOST = re.compile(r"^(?:(?:[0-9]{1,3}\.){3}|(?:[a-z0-9-]+\.)+)[a-z0-9][a-z0-9-]*$")


def _encoded(part: str, safe: str) -> str:
    """`part` with every character outside unreserved, `safe` and valid %XX escapes percent-encoded."""
    return quote(_STRAY_PERCENT.sub("%25", part), safe=safe + "%")


def _host(host: str) -> str:
    if host.startswith("[") or host.isascii():
        return _encoded(host, "!$&'()*+,;=:[]")  # an IP literal, or a reg-name as sent
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:  # not a name IDNA can spell: RFC 3986 allows a percent-encoded reg-name
        return _encoded(host, "!$&'()*+,;=")


def as_uri(url: str) -> str:
    """The URI for an http(s) URL the API accepted (the scheme lower-cased; the rest as sent, but encoded)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url  # not a web URL (an id standing in for a missing link): nothing to map
    userinfo, _, hostport = parts.netloc.rpartition("@")
    host, port = hostport, ""
    if not hostport.endswith("]") and ":" in hostport:
        host, _, port = hostport.rpartition(":")
    netloc = (_encoded(userinfo, "!$&'()*+,;=:") + "@" if userinfo or "@" in parts.netloc else "") + \
        _host(host) + (":" + port if port else "")
    out = f"{parts.scheme}://{netloc}{_encoded(parts.path, _PATH_SAFE)}"
    if parts.query or url.split("#", 1)[0].endswith("?"):
        out += "?" + _encoded(parts.query, _QUERY_SAFE)
    if "#" in url:
        out += "#" + _encoded(parts.fragment, _QUERY_SAFE)
    return out


def rss_url(url: str) -> str | None:
    """The URL as RSS carries it (item `<link>`, `<enclosure url>`, `media:content url`), or None
    to leave it out. RSS 2.0 wants URLs of http resources: as_uri's URI, with no credentials
    (never published in a feed) and no trailing dot on the host; None when the host is no domain
    name or IPv4 address (`localhost`, an IPv6 literal) or the URL no http(s) URL. Atom and JSON
    Feed carry every URL (as_uri)."""
    parts = urlsplit(as_uri(url))
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("http", "https") or not _RSS_HOST.match(host):
        return None
    port = f":{parts.port}" if parts.port is not None else ""
    return urlunsplit((parts.scheme, host + port, parts.path, parts.query, parts.fragment))
