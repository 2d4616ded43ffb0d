"""Ed25519 (`v1a`) Standard Webhooks signatures: key text forms, signing, the auth config, config errors.

Signatures are checked with `cryptography` directly, over the spec's content, not with the
project's own verify: a signer and a verifier that share a mistake would agree with each other.
"""

from __future__ import annotations

import base64
import time

import pytest
import standardwebhooks
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from syndication.errors import ConfigError
from syndication.partners import ed25519
from syndication.partners.signing import auth_headers, public_keys, sign
from syndication.partners.target import Auth, Target, target_secrets
from syndication.settings.secret import Secret

SECRET = "whsec_" + base64.b64encode(b"unit-test-secret-of-32-bytes!!!!").decode()
# A fixed pair: seed 32 bytes of 7.
SEED = bytes([7]) * 32
PUBLIC_RAW = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw()
WHSK = "whsk_" + base64.b64encode(SEED + PUBLIC_RAW).decode()
WHPK = "whpk_" + base64.b64encode(PUBLIC_RAW).decode()


def independent_verify(public: str, msg_id: str, timestamp: str, body: bytes, header: str) -> bool:
    """The spec's check, written here: some `v1a,` signature over `{id}.{timestamp}.{body}` verifies."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public.removeprefix("whpk_")))
    for part in header.split(" "):
        version, _, sig = part.partition(",")
        if version == "v1a":
            try:
                key.verify(base64.b64decode(sig), f"{msg_id}.{timestamp}.".encode() + body)
                return True
            except InvalidSignature:
                pass
    return False


def test_a_generated_pair_is_whsk_64_bytes_and_whpk_32_bytes_and_they_belong_together():
    private, public = ed25519.generate()
    assert private.startswith("whsk_") and len(base64.b64decode(private[5:])) == 64
    assert public.startswith("whpk_") and len(base64.b64decode(public[5:])) == 32
    assert ed25519.public_of(private) == public
    assert ed25519.generate() != (private, public)


def test_a_private_key_is_read_as_64_bytes_or_as_its_32_byte_seed():
    seed_only = "whsk_" + base64.b64encode(SEED).decode()
    assert ed25519.public_of(WHSK) == ed25519.public_of(seed_only) == WHPK
    assert ed25519.key_id(WHPK).startswith("ed25519:") and len(ed25519.key_id(WHPK)) == 8 + 16


@pytest.mark.parametrize("text, problem", [
    ("whsec_" + base64.b64encode(SEED).decode(), "must start with whsk_"),
    ("whsk_not base64!", "is not whsk_<base64>"),
    ("whsk_" + base64.b64encode(b"x" * 40).decode(), "holds 40 bytes, not 64 or 32"),
    ("whsk_" + base64.b64encode(SEED + bytes(32)).decode(), "last 32 bytes must be its public key"),
])
def test_a_bad_private_key_is_refused_saying_what_is_wrong_and_never_quoting_it(text, problem):
    with pytest.raises(ed25519.BadKey) as exc:
        ed25519.private_key(text)
    assert problem in str(exc.value)
    assert text[5:] not in str(exc.value)


def test_v1a_signs_the_spec_content_and_a_tampered_body_or_id_or_timestamp_fails():
    header = sign(None, "msg_1", 1700000000, b'{"a":1}', Secret(WHSK))
    assert header.startswith("v1a,") and " " not in header
    assert len(base64.b64decode(header[4:])) == 64
    assert independent_verify(WHPK, "msg_1", "1700000000", b'{"a":1}', header)
    assert not independent_verify(WHPK, "msg_1", "1700000000", b'{"a":2}', header)
    assert not independent_verify(WHPK, "msg_2", "1700000000", b'{"a":1}', header)
    assert not independent_verify(WHPK, "msg_1", "1700000001", b'{"a":1}', header)
    _, other = ed25519.generate()
    assert not independent_verify(other, "msg_1", "1700000000", b'{"a":1}', header)


def test_our_verify_agrees_with_the_independent_one():
    header = sign(None, "msg_1", 1700000000, b"body", Secret(WHSK))
    assert ed25519.verify([WHPK], "msg_1", 1700000000, b"body", header)
    assert not ed25519.verify([WHPK], "msg_1", 1700000000, b"bodY", header)
    assert not ed25519.verify([WHPK], "msg_1", 1700000000, b"body", "v1a,!!notbase64 v1,abc")


def test_with_a_secret_and_a_key_the_header_carries_v1_then_v1a_and_both_verify():
    now = int(time.time())  # the reference library checks v1 against the clock
    headers = auth_headers(Target(id="p", url="https://partner.example/in",
                                  auth=Auth(type="standard-webhooks", algorithm="ed25519", secret_env="S",
                                            private_key_env="K")),
                           {"secret_env": Secret(SECRET), "private_key_env": Secret(WHSK)}, "msg_9", now, b"{}")
    v1, v1a = headers["webhook-signature"].split(" ")
    assert v1.startswith("v1,") and v1a.startswith("v1a,")
    assert independent_verify(WHPK, "msg_9", str(now), b"{}", headers["webhook-signature"])
    # The reference library finds v1 in the same header (it passes over v1a).
    standardwebhooks.Webhook(SECRET).verify(b"{}", headers, json_parse=False)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SECRET).verify(b"{ }", headers, json_parse=False)


def test_a_rotation_of_keys_signs_with_each():
    other, other_public = ed25519.generate()
    header = sign(None, "m", 1, b"b", Secret(f"{WHSK} {other}"))
    assert len(header.split(" ")) == 2
    assert independent_verify(WHPK, "m", "1", b"b", header) and independent_verify(other_public, "m", "1", b"b", header)


@pytest.mark.parametrize("auth, problem", [
    ({"type": "standard-webhooks", "algorithm": "ed25519"}, "go together"),
    ({"type": "standard-webhooks", "private_key_env": "K"}, "go together"),
    ({"type": "bearer", "token_env": "T", "algorithm": "ed25519", "private_key_env": "K"}, "go together"),
    ({"type": "standard-webhooks", "algorithm": "rsa", "private_key_env": "K"}, "algorithm"),
    ({"type": "standard-webhooks"}, "needs secret_env"),
])
def test_the_auth_config_refuses_a_key_without_its_algorithm_and_the_reverse(auth, problem):
    with pytest.raises(ValidationError) as exc:
        Auth(**auth)
    assert problem in str(exc.value)


def test_a_key_alone_or_with_a_secret_is_a_valid_auth():
    assert Auth(type="standard-webhooks", algorithm="ed25519", private_key_env="K").secret_env is None
    assert Auth(type="standard-webhooks", algorithm="ed25519", private_key_env="K", secret_env="S").secret_env == "S"


def _target():
    return Target(id="agency", url="https://partner.example/in",
                  auth=Auth(type="standard-webhooks", algorithm="ed25519", private_key_env="AGENCY_KEY"))


@pytest.mark.parametrize("value, problem", [
    (None, "environment variable AGENCY_KEY (private_key_env) is not set"),
    ("whsec_" + base64.b64encode(SEED).decode(), "must start with whsk_"),
    ("whsk_" + base64.b64encode(b"short").decode(), "holds 5 bytes"),
])
def test_a_missing_or_bad_private_key_is_one_config_error_naming_the_partner_and_field(value, problem):
    env = {} if value is None else {"AGENCY_KEY": value}
    with pytest.raises(ConfigError) as exc:
        target_secrets(_target(), env, "partner agency")
    message = str(exc.value)
    assert message.startswith("partner agency: environment variable AGENCY_KEY") and problem in message
    assert "\n" not in message and (value is None or value[5:] not in message)


def test_what_a_partner_is_shown_is_the_public_key_and_its_id_never_the_private_one():
    shown = public_keys(target_secrets(_target(), {"AGENCY_KEY": WHSK}, "partner agency"))
    assert shown == [{"key_id": ed25519.key_id(WHPK), "algorithm": "ed25519", "signature": "v1a",
                      "public_key": WHPK}]
    assert WHSK not in repr(shown) and base64.b64encode(SEED).decode()[:20] not in repr(shown)
    assert public_keys({"secret_env": Secret(SECRET)}) == []
