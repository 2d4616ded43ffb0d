"""Ed25519 (`v1a`) signed pushes on real processes, checked as a partner would check them (issue 26, item 2).

A service of its own (API, events and deliveries workers) on the session's redis-server, with
two partners, each at a partner server of its own:

    ed-only    algorithm ed25519 only: pushes carry one `v1a` signature; it pulls too, so its
               pull token reads GET /v1/partners/ed-only/keys
    migrating  a secret and a key (a partner moving from v1 to v1a): both signatures, one header

Signatures are verified by a verifier written here with `cryptography` (not the project's own),
and `v1` by the `standardwebhooks` reference library. `syndication receiver --public-key-env`
is run as a subprocess and fed a real push, then the same push tampered.
"""

from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path

import pytest
import requests
import standardwebhooks
import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tests.support import config, logscan
from tests.support.events import article_event
from tests.support.processes import Proc, api, free_port, private_env, running, wait_for, worker
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration

KEY = "ed25519-publisher-key"
SECRET = config.secret("migrating")


def _pair(seed: int) -> tuple[str, str]:
    """A whsk_/whpk_ pair made here from raw bytes, not by the code under test."""
    private = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    public = private.public_key().public_bytes_raw()
    return ("whsk_" + base64.b64encode(private.private_bytes_raw() + public).decode(),
            "whpk_" + base64.b64encode(public).decode())


ED_PRIVATE, ED_PUBLIC = _pair(11)
MIG_PRIVATE, MIG_PUBLIC = _pair(12)
PULL_TOKEN = "ed-only-pull-token-5e1f"
SECRETS = {"ED_ONLY_KEY": ED_PRIVATE, "MIGRATING_KEY": MIG_PRIVATE, "MIGRATING_SECRET": SECRET,
           "ED_ONLY_PULL_TOKEN": PULL_TOKEN}
logscan.forbid_env(SECRETS)  # the secret and the pull token
for _name in ("ED_ONLY_KEY", "MIGRATING_KEY"):  # private keys: no suffix logscan knows
    logscan.forbid(SECRETS[_name], f"${_name}")


def independent_verify(public: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks v1a, as the spec says: some `v1a,<base64>` in webhook-signature is an
    Ed25519 signature of `{webhook-id}.{webhook-timestamp}.{body}` by this public key."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public.removeprefix("whpk_")))
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    for part in headers["webhook-signature"].split(" "):
        version, _, sig = part.partition(",")
        if version == "v1a":
            try:
                key.verify(base64.b64decode(sig), content)
                return True
            except InvalidSignature:
                pass
    return False


class Service:
    def __init__(self, url: str, env: dict, partners: dict[str, Receiver]):
        self.url, self.env, self.partners = url, env, partners

    def publish(self, article_id: str) -> None:
        resp = requests.post(f"{self.url}/v1/events", json=article_event(article_id, 1), timeout=10,
                             headers={"Authorization": f"Bearer {KEY}"})
        assert resp.status_code == 202, resp.text

    def push_to(self, partner: str, article_id: str):
        [req] = wait_for(lambda: self.partners[partner].for_article(article_id), timeout=30,
                         what=f"the push of {article_id} to {partner}")
        return req


@pytest.fixture(scope="module")
def signed(redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ed25519")
    partners = {"ed-only": Receiver.start(), "migrating": Receiver.start()}
    partners_file = tmp / "partners.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": [
        {"id": "ed-only", "url": partners["ed-only"].url, "format": "json", "allow_private_network": True,
         "auth": {"type": "standard-webhooks", "algorithm": "ed25519", "private_key_env": "ED_ONLY_KEY"},
         "pull": {"token_env": "ED_ONLY_PULL_TOKEN"}},
        {"id": "migrating", "url": partners["migrating"].url, "format": "ninjs", "allow_private_network": True,
         "auth": {"type": "standard-webhooks", "algorithm": "ed25519", "secret_env": "MIGRATING_SECRET",
                  "private_key_env": "MIGRATING_KEY"}},
    ]}))
    port = free_port()
    env = private_env(redis_url, port, partners_file, "ed", SYNDICATION_API_KEYS=KEY, **SECRETS)
    procs = [api(env, tmp, port), worker("events", env, tmp), worker("deliveries", env, tmp)]
    with running(procs, receivers=list(partners.values())):
        yield Service(f"http://127.0.0.1:{port}", env, partners)


def test_an_ed25519_partner_gets_a_v1a_signature_an_independent_verifier_accepts(signed, unique):
    signed.publish(f"ed-{unique}")
    req = signed.push_to("ed-only", f"ed-{unique}")
    signature = req.headers["webhook-signature"]
    assert signature.startswith("v1a,") and " " not in signature, "a key alone: one v1a signature, no v1"
    assert abs(int(req.headers["webhook-timestamp"]) - time.time()) < 60
    assert independent_verify(ED_PUBLIC, req.headers, req.body)
    # One byte more, another id, another partner's key: each fails.
    assert not independent_verify(ED_PUBLIC, req.headers, req.body + b" ")
    assert not independent_verify(ED_PUBLIC, {**req.headers, "webhook-id": req.headers["webhook-id"] + "x"}, req.body)
    assert not independent_verify(MIG_PUBLIC, req.headers, req.body)


def test_while_migrating_one_header_carries_v1_and_v1a_and_each_verifies(signed, unique):
    signed.publish(f"mig-{unique}")
    req = signed.push_to("migrating", f"mig-{unique}")
    v1, v1a = req.headers["webhook-signature"].split(" ")
    assert v1.startswith("v1,") and v1a.startswith("v1a,")
    standardwebhooks.Webhook(SECRET).verify(req.body, req.headers, json_parse=False)  # raises if v1 is wrong
    assert independent_verify(MIG_PUBLIC, req.headers, req.body)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SECRET).verify(req.body + b" ", req.headers, json_parse=False)
    assert not independent_verify(MIG_PUBLIC, req.headers, req.body + b" ")


def _keys(signed, partner: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{signed.url}/v1/partners/{partner}/keys", headers=headers, timeout=10)


def test_the_keys_route_gives_the_partner_its_public_key_and_a_wrong_token_nothing(signed):
    ok = _keys(signed, "ed-only", PULL_TOKEN)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["partner"] == "ed-only" and body["algorithms"] == ["ed25519"]
    [key] = body["keys"]
    assert key["public_key"] == ED_PUBLIC and key["algorithm"] == "ed25519" and key["signature"] == "v1a"
    assert key["key_id"].startswith("ed25519:")
    assert ED_PRIVATE[5:25] not in ok.text and "whsk_" not in ok.text

    wrong = _keys(signed, "ed-only", "not-the-token")
    unknown = _keys(signed, "no-such-partner", PULL_TOKEN)
    no_pull = _keys(signed, "migrating", PULL_TOKEN)  # exists, pushes, does not pull
    assert wrong.status_code == unknown.status_code == no_pull.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"] == "Bearer"
    # The same answer whichever the reason, but for the partner id the caller sent.
    answers = {r.text.replace(f"'{pid}'", "'P'") for r, pid in
               ((wrong, "ed-only"), (unknown, "no-such-partner"), (no_pull, "migrating"))}
    assert len(answers) == 1, answers
    assert _keys(signed, "ed-only", None).status_code == 401


def _cli(env: dict, *argv: str) -> "subprocess.CompletedProcess":
    import subprocess

    return subprocess.run([sys.executable, "-m", "syndication.cli", *argv], env=env, capture_output=True,
                          text=True, timeout=60)


def test_partners_show_prints_the_public_key_never_a_secret_and_keys_generate_prints_a_pair(signed):
    shown = _cli(signed.env, "partners", "show", "migrating")
    assert shown.returncode == 0, shown.stderr
    assert f"public key: {MIG_PUBLIC}" in shown.stdout
    assert "auth: standard-webhooks (v1 hmac-sha256, v1a ed25519)" in shown.stdout
    for secret in (MIG_PRIVATE, SECRET, PULL_TOKEN):
        assert secret[6:30] not in shown.stdout + shown.stderr
    made = _cli(signed.env, "keys", "generate")
    assert made.returncode == 0, made.stderr
    private = made.stdout.split("whsk_")[1].split()[0]
    public = made.stdout.split("whpk_")[1].split()[0]
    raw = base64.b64decode(private)
    assert len(raw) == 64 and Ed25519PrivateKey.from_private_bytes(raw[:32]).public_key().public_bytes_raw() \
        == base64.b64decode(public) == raw[32:]


def test_config_check_refuses_a_bad_private_key_in_one_line_naming_partner_and_field(signed):
    bad = _cli({**signed.env, "ED_ONLY_KEY": "whsk_" + base64.b64encode(b"short").decode()},
               "config", "check", "--offline")
    assert bad.returncode == 2
    [line] = bad.stderr.strip().splitlines()
    assert "partner ed-only" in line and "ED_ONLY_KEY" in line and "private_key_env" in line, line
    missing = _cli({k: v for k, v in signed.env.items() if k != "ED_ONLY_KEY"}, "config", "check", "--offline")
    assert missing.returncode == 2 and "partner ed-only: environment variable ED_ONLY_KEY (private_key_env) " \
        "is not set" in missing.stderr


def test_syndication_receiver_accepts_a_v1a_push_and_rejects_it_tampered(signed, unique, tmp_path):
    signed.publish(f"rcv-{unique}")
    req = signed.push_to("ed-only", f"rcv-{unique}")
    port = free_port()
    proc = Proc("receiver", [sys.executable, "-m", "syndication.cli", "receiver", "--port", str(port),
                             "--public-key-env", "PARTNER_PUBLIC_KEY"],
                {**os.environ, "PYTHONUNBUFFERED": "1", "PARTNER_PUBLIC_KEY": ED_PUBLIC}, tmp_path,
                ready="listening on")
    proc.start()
    try:
        assert "signatures checked with $PARTNER_PUBLIC_KEY" in proc.log.read_text()
        forward = {k: v for k, v in req.headers.items()
                   if k.startswith("webhook-") or k == "content-type"}
        url = f"http://127.0.0.1:{port}/in"
        good = requests.post(url, data=req.body, headers=forward, timeout=10)
        assert good.status_code == 200 and good.json()["ok"] is True, good.text
        tampered = requests.post(url, data=req.body.replace(b"rcv-", b"rcX-", 1), headers=forward, timeout=10)
        assert tampered.status_code == 401 and tampered.json()["detail"] == "No matching signature found"

        def lines():
            return [ln for ln in proc.log.read_text().splitlines() if "signature" in ln and "listening" not in ln]

        first, second = wait_for(lambda: len(lines()) == 2 and lines(), what="two push lines")
        assert "signature ok  new" in first and second.endswith("rejected  signature BAD  (No matching signature found)")
    finally:
        proc.stop()
