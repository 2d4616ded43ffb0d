"""The SSRF guard's pure rules: which addresses are allowed, which URL shapes load.

The guard in action (real server, resolvers, connections) is in test_ssrf.py.
"""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from syndication.partners.address import allowed
from syndication.errors import ConfigError
from syndication.partners.registry import Partner
from syndication.configuration import load_settings

PUBLIC = "93.184.216.34"


@pytest.mark.parametrize("ip,ok", [
    ("8.8.8.8", True), (PUBLIC, True), ("2606:4700::1111", True), ("2002:808:808::1", True),
    ("64:ff9b::808:808", True),
    ("127.0.0.1", False), ("0.0.0.0", False), ("10.0.0.1", False), ("172.16.0.1", False),
    ("192.168.1.1", False), ("100.64.0.1", False), ("100.100.100.200", False), ("169.254.169.254", False),
    ("198.18.0.1", False), ("192.0.2.1", False), ("240.0.0.1", False), ("255.255.255.255", False),
    ("224.0.0.1", False), ("::1", False), ("::", False), ("fe80::1%eth0", False), ("fd00::1", False),
    ("ff0e::1", False), ("2001:db8::1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
    ("::7f00:1", False), ("2002:7f00:1::1", False), ("2002:a9fe:a9fe::1", False), ("64:ff9b::7f00:1", False),
    ("64:ff9b::a00:1", False), ("64:ff9b:1::808:808", False),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
    ("2001:0:7f00:1::808:808", False),  # Teredo, server 127.0.0.1
    # Where Pythons' `ipaddress.is_global` disagree (its table changed in 3.11.10, 3.12.4, 3.13):
    # the guard's own table gives one answer on every Python (make test runs these on two).
    ("192.0.0.8", False), ("::ffff:192.0.0.8", False), ("2002:c000:8::1", False), ("64:ff9b::c000:8", False),
    ("192.0.0.9", True), ("2001:2::1", False), ("2001:10::1", False), ("2001:3::1", True), ("2001:1::1", True),
    ("2001:20::1", True), ("2002:c000:9::1", True),
])
def test_allowed_rule(ip, ok):
    assert allowed(ip) is ok


BAD_SHAPES = [
    ("http://127.0.0.1:{port}\\@8.8.8.8/", "backslash"),
    ("http://user@127.0.0.1:{port}/", "userinfo"),
    ("http://user:pw@127.0.0.1:{port}/", "userinfo"),
    ("http://127.0.0.1:{port}@8.8.8.8/", "userinfo"),
    ("http://8.8.8.8@127.0.0.1:{port}/", "userinfo"),
    ("http://１２７.0.0.1:{port}/", "not ASCII"),
    ("http://127.0.0.1:{port}/a b", "whitespace"),
    ("http://127.0.0.1:{port}\t/", "whitespace"),
    ("http://127.0.0.1:{port}/\x00", "control"),
    ("http://[fe80::1%25lo]:{port}/", "zone id"),
    ("ftp://127.0.0.1:{port}/", "http(s) URL with a host"),
]


@pytest.mark.parametrize("url,problem", BAD_SHAPES)
def test_bad_url_shapes_rejected_at_load(url, problem):
    with pytest.raises(ValidationError, match=re.escape(problem)):
        Partner(id="p", url=url.format(port=8315))


def test_bad_url_names_partner_and_field_in_config(tmp_path):
    f = tmp_path / "partners.yaml"
    f.write_text('partners:\n  - id: sneaky\n    url: "http://127.0.0.1:8315\\\\@8.8.8.8/"\n')
    with pytest.raises(ConfigError) as exc:
        load_settings({"SYNDICATION_PARTNERS_FILE": str(f)})
    assert "entry 0 (sneaky)" in str(exc.value) and "url" in str(exc.value) and "backslash" in str(exc.value)
