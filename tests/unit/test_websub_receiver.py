"""`syndication receiver --websub` as a subscriber (cli/websub_receiver.py): what it echoes, what it accepts."""

from __future__ import annotations

import hashlib
import hmac

from syndication.cli.websub_receiver import Subscriber

BODY = b"<feed>...</feed>"
TOPIC = "http://127.0.0.1:8000/feeds/all.atom"


def signed(secret: str, body: bytes = BODY, method: str = "sha256") -> str:
    return f"{method}=" + hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()


def test_a_verification_is_answered_with_its_challenge():
    line, challenge = Subscriber(None).verification(
        f"/cb/x?hub.mode=subscribe&hub.topic={TOPIC}&hub.challenge=abc123&hub.lease_seconds=3600")
    assert challenge == "abc123" and line == f"verification subscribe {TOPIC}, lease 3600 s: answered with the challenge"


def test_a_get_that_is_no_verification_is_not_one():
    assert Subscriber(None).verification("/cb/x") is None
    line, challenge = Subscriber(None).verification("/cb/x?hub.mode=subscribe&hub.topic=t")  # no challenge
    assert challenge is None and "404" in line


def test_with_a_secret_only_a_feed_signed_with_it_is_accepted():
    hub = Subscriber("s3cret")
    headers = {"content-type": "application/atom+xml", "link": f'<http://h/websub>; rel="hub", <{TOPIC}>; rel="self"'}
    line, ok = hub.content(BODY, {**headers, "x-hub-signature": signed("s3cret")})
    assert ok and line == f"feed {TOPIC}  application/atom+xml  {len(BODY)} bytes  signature ok"
    assert hub.content(BODY, {**headers, "x-hub-signature": signed("s3cret", method="sha1")})[1]
    for bad in (signed("other"), signed("s3cret", BODY + b" "), "sha256=", "md5=00", None):
        line, ok = hub.content(BODY, {**headers, **({"x-hub-signature": bad} if bad is not None else {})})
        assert not ok and line.startswith("rejected  signature BAD"), (bad, line)


def test_without_a_secret_nothing_is_checked_and_it_says_so():
    line, ok = Subscriber(None).content(BODY, {"content-type": "application/rss+xml"})
    assert ok and line.endswith("signature unchecked")


def test_a_hostile_value_cannot_forge_a_line():
    line, _ = Subscriber(None).verification("/cb?hub.mode=subscribe&hub.topic=a%0Afake%20line&hub.challenge=c")
    assert "\n" not in line
    line, _ = Subscriber(None).content(BODY, {"link": "<x\nfake>; rel=self", "content-type": "a\x1b[2J"})
    assert "\n" not in line and "\x1b" not in line
