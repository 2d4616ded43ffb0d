"""Pure logic: filters, response classes, backoff, Retry-After, signatures, settings."""

import base64
import random
import time
from email.utils import formatdate

import pytest
import standardwebhooks

from syndication.delivery.backoff import compute_backoff, parse_retry_after
from syndication.delivery.outcome import Outcome, classify
from syndication.delivery.records import delivery_id
from syndication.errors import ConfigError
from syndication.filters import Filters
from syndication.partners.target import Target, check_address
from syndication.partners.signing import sign
from syndication.configuration import load_settings
from syndication.settings import Secret, Settings


def test_filters_any_within_all_across_case_insensitive():
    art = {"categories": ["Economy", "Kazakhstan"], "language": "en", "section": "Business", "authors": ["A B"]}
    assert Filters().matches(art)
    assert Filters(categories=["economy "]).matches(art)
    assert Filters(categories=["Sport", "Kazakhstan"], languages=["en", "ru"]).matches(art)
    assert not Filters(categories=["Economy"], languages=["kk"]).matches(art)
    assert not Filters(sections=["Sport"]).matches(art)


@pytest.mark.parametrize("status,outcome", [
    (200, Outcome.SUCCESS), (204, Outcome.SUCCESS), (408, Outcome.RETRY), (425, Outcome.RETRY),
    (429, Outcome.RETRY), (500, Outcome.RETRY), (503, Outcome.RETRY), (None, Outcome.RETRY),
    (410, Outcome.GONE), (400, Outcome.PERMANENT), (404, Outcome.PERMANENT), (301, Outcome.PERMANENT),
])
def test_response_classes(status, outcome):
    assert classify(status) is outcome


def test_response_class_overrides():
    assert classify(404, retry_on=[404]) is Outcome.RETRY
    assert classify(503, permanent_on=[503]) is Outcome.PERMANENT


class Edge:
    """A stand-in for `random` that draws one end of the range it is asked for."""

    def __init__(self, top: bool):
        self.top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self.top else a


@pytest.mark.parametrize("attempt,ceiling", [(1, 2), (2, 4), (3, 8), (4, 16), (9, 512), (10, 600), (30, 600)])
def test_full_jitter_ceiling_doubles_per_attempt_up_to_the_cap(attempt, ceiling):
    assert compute_backoff(attempt=attempt, base=2, cap=600, rng=Edge(top=True)) == ceiling
    assert compute_backoff(attempt=attempt, base=2, cap=600, rng=Edge(top=False)) == 0


@pytest.mark.parametrize("attempt", [1, 3, 6, 12])
def test_full_jitter_spreads_over_the_whole_range(attempt):
    """uniform(0, ceiling): a constant (0, the ceiling, half of it) or a narrow band fails."""
    rng = random.Random(7)
    ceiling = min(600, 2 * 2 ** (attempt - 1))
    delays = sorted(compute_backoff(attempt=attempt, base=2, cap=600, rng=rng) for _ in range(2000))
    assert all(0 <= d <= ceiling for d in delays)
    assert delays[0] < 0.01 * ceiling and delays[-1] > 0.99 * ceiling
    for q in (0.25, 0.5, 0.75):  # quartiles where a uniform draw puts them (±3 %)
        assert abs(delays[int(q * len(delays))] - q * ceiling) < 0.03 * ceiling, (q, delays[int(q * len(delays))])


def test_retry_after_wins_when_longer_and_is_bounded():
    for top in (True, False):  # whatever the jitter draws below it
        assert compute_backoff(attempt=1, base=1, cap=1, retry_after=2.0, rng=Edge(top)) == 2.0
        assert compute_backoff(attempt=1, retry_after=10**9, max_retry_after=3600, rng=Edge(top)) == 3600
    # A shorter Retry-After does not cut the backoff short.
    assert compute_backoff(attempt=4, base=2, cap=600, retry_after=1.0, rng=Edge(top=True)) == 16


def test_parse_retry_after_seconds_and_http_date():
    now = time.time()
    assert parse_retry_after("2", now) == 2.0
    assert 28 <= parse_retry_after(formatdate(now + 30, usegmt=True), now) <= 31
    assert parse_retry_after("soon", now) is None


def test_delivery_id_is_stable_per_article_version_partner():
    assert delivery_id("a", 1, "p") == delivery_id("a", 1, "p")
    assert len({delivery_id("a", 1, "p"), delivery_id("a", 2, "p"), delivery_id("a", 1, "q")}) == 3


def test_signature_verifies_with_standardwebhooks_including_rotation():
    old = "whsec_" + base64.b64encode(b"old-key-old-key-old-key").decode()
    new = "whsec_" + base64.b64encode(b"new-key-new-key-new-key").decode()
    body, ts, msg = b'{"a":1}', int(time.time()), "msg_123"
    header = sign(Secret(f"{old} {new}"), msg, ts, body)
    headers = {"webhook-id": msg, "webhook-timestamp": str(ts), "webhook-signature": header}
    for secret in (old, new):
        standardwebhooks.Webhook(secret).verify(body, headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook("whsec_" + base64.b64encode(b"someone-else").decode()).verify(body, headers)


def test_secret_never_prints():
    s = Secret("hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s)
    assert "hunter2" not in repr(Settings(api_keys=(s,)))


def test_private_addresses_refused_unless_allowed():
    p = Target(id="p", url="http://127.0.0.1:9/x")
    with pytest.raises(Exception, match="non-public"):
        check_address(p)
    check_address(Target(id="p", url="http://127.0.0.1:9/x", allow_private_network=True))
    meta = Target(id="m", url="http://169.254.169.254/latest")
    with pytest.raises(Exception, match="non-public"):
        check_address(meta)


def test_partner_file_errors_name_the_key(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("partners:\n  - id: x\n    url: ftp://nope\n    format: pdf\n")
    with pytest.raises(ConfigError) as exc:
        load_settings({"SYNDICATION_PARTNERS_FILE": str(f)})
    msg = str(exc.value)
    assert "entry 0 (x)" in msg and "url" in msg and "format" in msg


def test_missing_secret_env_is_named(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("partners:\n  - id: x\n    url: https://x.example/\n    auth: {type: bearer, token_env: X_TOKEN}\n")
    with pytest.raises(ConfigError, match="X_TOKEN"):
        load_settings({"SYNDICATION_PARTNERS_FILE": str(f)})
