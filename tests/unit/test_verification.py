"""The portal's signing details: never a secret, and its verification snippets really verify our pushes.

The Python snippets are run as shown (with the secret or public key put where they say), and the
Node Ed25519 snippet by the machine's node, against a push signed by signing.auth_headers: a
snippet that drifts from what we send fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from syndication.partners import ed25519, signing, verification
from syndication.partners.target import Target
from syndication.settings import Secret
from tests.support.config import secret

SECRET = secret("verification")
BODY = b'{"headline":"Test"}'


def target(**auth) -> Target:
    return Target(id="p", url="https://partner.example/hook", auth=auth)


def signed(t: Target, secrets: dict) -> dict[str, str]:
    return signing.auth_headers(t, secrets, "msg_0123", int(time.time()), BODY)  # the libraries check it is recent


def test_hmac_partners_see_a_fingerprint_never_the_secret():
    t = target(type="standard-webhooks", secret_env="S")
    shown = verification.details(t, {"secret_env": Secret(SECRET)})
    text = json.dumps(shown)
    assert SECRET not in text and SECRET.removeprefix("whsec_") not in text
    assert [k["key_id"] for k in shown["keys"]] == [f"hmac-sha256:{verification.fingerprint(SECRET)}"]
    assert "webhook-signature" in [h for h, _ in shown["headers"]]


def test_the_python_hmac_snippet_verifies_our_signature(monkeypatch):
    t = target(type="standard-webhooks", secret_env="S")
    code = verification.details(t, {"secret_env": Secret(SECRET)})["python"]
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    scope: dict = {}
    exec(code, scope)
    assert scope["verify"](BODY, signed(t, {"secret_env": Secret(SECRET)})) == json.loads(BODY)
    with pytest.raises(scope["WebhookVerificationError"]):
        scope["verify"](BODY + b" ", signed(t, {"secret_env": Secret(SECRET)}))


def ed25519_setup():
    private, public = ed25519.generate()
    t = target(type="standard-webhooks", algorithm="ed25519", private_key_env="K")
    secrets = {"private_key_env": Secret(private)}
    return t, secrets, public


def test_ed25519_partners_see_the_public_key_and_the_python_snippet_verifies():
    t, secrets, public = ed25519_setup()
    shown = verification.details(t, secrets)
    assert [k["public_key"] for k in shown["keys"]] == [public]
    assert secrets["private_key_env"].value not in json.dumps(shown)
    scope: dict = {}
    exec(shown["python"].replace('"whpk_..."', repr(public)), scope)
    scope["verify"](BODY, signed(t, secrets))  # raises if the signature does not verify
    with pytest.raises(Exception):
        scope["verify"](BODY + b" ", signed(t, secrets))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_node_ed25519_snippet_verifies(tmp_path):
    t, secrets, public = ed25519_setup()
    snippet = verification.details(t, secrets)["node"].replace('"whpk_..."', json.dumps(public))
    (tmp_path / "verify.mjs").write_text(snippet)
    headers = signed(t, secrets)
    check = f"""import {{ verify }} from "./verify.mjs";
const headers = {json.dumps(headers)};
console.log(verify(Buffer.from({json.dumps(BODY.decode())}), headers),
            verify(Buffer.from({json.dumps(BODY.decode() + " ")}), headers));"""
    (tmp_path / "check.mjs").write_text(check)
    out = subprocess.run(["node", "check.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                         env={**os.environ, "NODE_NO_WARNINGS": "1"})
    assert out.stdout.split() == ["true", "false"], out.stderr


def test_bearer_and_unsigned_partners_are_told_so_without_their_credential():
    bearer = verification.details(target(type="bearer", token_env="T"), {"token_env": Secret("tok-123")})
    assert "tok-123" not in json.dumps(bearer) and bearer["python"] == ""
    assert "not signed" in verification.details(target(), {})["algorithm"]
    assert verification.details(None, {})["keys"] == []
