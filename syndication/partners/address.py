"""The SSRF guard: which partner URLs are well-formed, and which addresses a push may connect to.

Three rules, used both when the partners file is loaded and at every connection:

- `check_url`: one reading of a URL. The URL is refused unless urllib.parse
  (what we check) and urllib3 (what requests sends with) read the same
  scheme, host and port, and it has no spelling the two are known to read
  differently (backslashes, userinfo, non-ASCII hosts, whitespace, controls).
- `allowed`: an address is allowed only if it is globally routable, including
  any IPv4 address embedded in an IPv6 one (mapped, 6to4, Teredo, NAT64).
- `resolve`: one resolution per connection, every answer checked before any
  is used. The caller connects to these answers, never resolves again, so a
  DNS answer that changes (rebinding) cannot slip past the check.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from ipaddress import IPv4Address, IPv6Address, ip_network
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from syndication.errors import AddressRefused

IP = IPv4Address | IPv6Address

# Whitespace and C0/C1 controls: parsers strip or split on them differently.
_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_NAT64 = ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: IPv4 in the last 32 bits
_NAT64_LOCAL = ip_network("64:ff9b:1::/48")  # RFC 8215 local use: where the IPv4 sits is site-defined
_V4_COMPATIBLE = ip_network("::/96")  # deprecated IPv4-compatible form (RFC 4291 2.5.5.1)

# What is globally reachable, from the IANA special-purpose address registries
# (iana-ipv4-special-registry, iana-ipv6-special-registry): the blocks marked not globally
# reachable, and the global blocks inside them. Our own copy, not `ipaddress.is_global`: the
# stdlib's table changed in patch releases (CVE-2024-4032: 3.11.10, 3.12.4, 3.13), so the same
# address was allowed on one Python and refused on another. Not listed, because the IPv4
# address they carry decides (`_embedded_v4`): ::ffff:0:0/96 (IPv4-mapped) and 2002::/16
# (6to4, "N/A" in the registry).
_NOT_GLOBAL = tuple(ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
    "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
    "fc00::/7", "fe80::/10",
))
_GLOBAL_INSIDE = tuple(ip_network(n) for n in (
    "192.0.0.9/32", "192.0.0.10/32",
    "2001:1::1/128", "2001:1::2/128", "2001:3::/32", "2001:4:112::/48", "2001:20::/28", "2001:30::/28",
))


def check_url(url: str) -> str:
    """Return `url` if it has exactly one reading; ValueError names the problem otherwise."""
    if "\\" in url:
        raise ValueError("URL contains a backslash (parsers disagree on where the host ends)")
    if _BAD_CHARS.search(url):
        raise ValueError("URL contains whitespace or a control character")
    try:
        ours = urlsplit(url)
        our_port = ours.port
    except ValueError as exc:
        raise ValueError(f"URL cannot be parsed: {exc}") from None
    if ours.scheme not in ("http", "https") or not ours.hostname:
        raise ValueError("must be an http(s) URL with a host")
    if "@" in ours.netloc:
        raise ValueError("URL has userinfo (user@) before the host; put credentials in `auth`, not the URL")
    if not ours.netloc.isascii():
        raise ValueError("URL host is not ASCII; write it in its xn-- (IDNA) form")
    if "%" in ours.netloc:
        raise ValueError("URL host contains '%' (percent-encoding or an IPv6 zone id)")
    try:
        theirs = parse_url(url)
    except LocationParseError as exc:
        raise ValueError(f"URL cannot be parsed by urllib3: {exc}") from None
    mine = (ours.scheme, ours.hostname, our_port)
    sent = (theirs.scheme, (theirs.host or "").strip("[]").lower(), theirs.port)
    if mine != sent or theirs.auth:
        raise ValueError(f"URL is read as {mine} by urllib.parse but {sent} by urllib3")
    return url


def parse_ip(text: str) -> IP:
    """An address from a resolver answer or URL host, without brackets or scope id (`%eth0`)."""
    return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])


def _embedded_v4(ip: IPv6Address) -> list[IPv4Address]:
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]  # teredo: (server, client)
    if ip in _NAT64 or ip in _V4_COMPATIBLE:
        found.append(IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def _is_global(ip: IP) -> bool:
    # `in` is False across versions (an IPv4 address is in no IPv6 network), so one table serves both.
    return not any(ip in net for net in _NOT_GLOBAL) or any(ip in net for net in _GLOBAL_INSIDE)


def allowed(ip: IP | str) -> bool:
    """May a push connect to `ip` (without allow_private_network)? Only if it is globally routable."""
    if isinstance(ip, str):
        ip = parse_ip(ip)
    # The registries leave multicast out (224/4 and ff00::/8 are not "special-purpose"), so refuse it by name.
    if ip.is_multicast or not _is_global(ip):
        return False
    if ip.version == 4:
        return True
    if ip in _NAT64_LOCAL:
        return False  # not globally reachable (RFC 8215), and we cannot know which IPv4 it carries
    # A tunnel or translator forwards to the embedded IPv4: it must pass the same rule.
    return all(allowed(v4) for v4 in _embedded_v4(ip))


def _refusal(host: str, ip: object) -> AddressRefused:
    return AddressRefused(f"{host} resolves to non-public address {ip}; "
                          "set allow_private_network: true to allow it")


def resolve(host: str, port: int, resolver=socket.getaddrinfo, family: int = socket.AF_UNSPEC,
            check: bool = True) -> list[tuple]:
    """Resolve host:port once; with `check`, refuse all if ANY answer is not allowed.

    Returns getaddrinfo-style answers to connect to, in order. Raises
    AddressRefused (permanent: the partner points somewhere it may not) or
    OSError, e.g. socket.gaierror for EAI_AGAIN (temporary: retry later).
    One bad answer refuses the lot: which answer gets used is not ours to
    choose (happy eyeballs, a failed first address), so none may be bad.
    """
    host = host.strip("[]")
    if check:
        try:
            literal = parse_ip(host)
        except ValueError:
            literal = None
        if literal is not None and not allowed(literal):
            raise _refusal(host, literal)  # before any lookup: no resolver can vouch for it
    answers = list(resolver(host, port, family, socket.SOCK_STREAM))
    if not answers:
        raise OSError(f"no addresses for {host}")
    for answer in answers:
        try:
            ip = parse_ip(answer[4][0])
        except (ValueError, IndexError, TypeError, AttributeError):
            raise AddressRefused(f"{host}: resolver answer {answer!r} is not an IP address") from None
        if check and not allowed(ip):
            raise _refusal(host, ip)
    return answers


def check_peer(sock: socket.socket, answer: tuple, check: bool = True) -> None:
    """Before any byte is sent: is the socket connected to the answer we checked?"""
    peer = parse_ip(sock.getpeername()[0])
    if peer != parse_ip(answer[4][0]) or (check and not allowed(peer)):
        raise AddressRefused(f"connected to {peer}, not the checked address {answer[4][0]}")
