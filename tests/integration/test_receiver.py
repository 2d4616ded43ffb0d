"""`syndication receiver`, the partner-side endpoint the README offers to test an integration.

Real HTTP to the real command (a subprocess), signed by the service's own signer
(syndication/partners/signing.py), verified by the `standardwebhooks` library inside the
receiver; what it prints is read from its stdout, one line per push.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest
import requests

from syndication.partners.formats.base import Push
from syndication.partners.formats.ninjs import NinjsFormat
from syndication.partners.signing import sign
from syndication.settings import Secret
from tests.support.processes import Proc, free_port, wait_for

pytestmark = pytest.mark.integration
SECRET = "whsec_dGVzdC1yZWNlaXZlci1zZWNyZXQtMzItYnl0ZXMhISE="
OTHER = "whsec_b3RoZXItc2VjcmV0LW9mLXRoaXJ0eS10d28gYnl0ZXM="


def receiver(tmp_path, name: str, *flags: str, **env) -> tuple[Proc, str]:
    port = free_port()
    argv = [sys.executable, "-m", "syndication.cli", "receiver", "--port", str(port), *flags]
    proc = Proc(name, argv, {**os.environ, "PYTHONUNBUFFERED": "1", **env}, tmp_path, ready="listening on")
    return proc.start(), f"http://127.0.0.1:{port}/partner/ingest"


def push_lines(proc: Proc) -> list[str]:
    return [line for line in proc.log.read_text().splitlines() if " v" in line and "msg_" in line]


def ninjs_push(article_id: str, version: int) -> bytes:
    article = {"id": article_id, "version": version, "url": f"https://news.example/{article_id}",
               "language": "en", "headline": "Receiver test", "published_at": "2026-11-25T10:00:00Z"}
    push = Push(delivery_id=f"msg_{article_id}_{version}", article_id=article_id, version=version,
                event_id=f"evt-{article_id}-v{version}", event_type="article.published", article=article,
                withdrawn=False)
    return NinjsFormat().render(push, base_url="http://127.0.0.1:8000")


def post(url: str, body: bytes, webhook_id: str, secret: str | None = SECRET) -> requests.Response:
    ts = int(time.time())
    headers = {"Content-Type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": str(ts)}
    if secret:
        headers["webhook-signature"] = sign(Secret(secret), webhook_id, ts, body)
    return requests.post(url, data=body, headers=headers, timeout=5)


def test_signed_push_is_ok_a_tampered_one_is_401_and_a_repeated_webhook_id_is_a_duplicate(tmp_path, unique):
    proc, url = receiver(tmp_path, "receiver", "--secret-env", "PARTNER_SECRET", PARTNER_SECRET=SECRET)
    try:
        assert "signatures checked with $PARTNER_SECRET" in proc.log.read_text()
        aid = f"rcv-{unique}"
        body = ninjs_push(aid, 3)

        first = post(url, body, f"msg_{unique}_a")
        assert first.status_code == 200 and first.json() == {"ok": True, "duplicate": False}
        line = wait_for(lambda: push_lines(proc)[-1:], what="a line for the push")[0]
        assert f"{aid} v3  ninjs  signature ok  new  msg_{unique}_a" in line, line

        # The same delivery again (a retry or a replay: same webhook-id): 200, told apart.
        again = post(url, body, f"msg_{unique}_a")
        assert again.status_code == 200 and again.json()["duplicate"] is True
        line = wait_for(lambda: push_lines(proc)[1:2], what="a line for the repeat")[0]
        assert "signature ok  duplicate" in line, line

        # The signature was made for `body`; one byte more is a forgery: 401, said plainly.
        tampered = requests.post(url, data=body + b" ", timeout=5, headers={
            "Content-Type": "application/json", "webhook-id": f"msg_{unique}_b",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": sign(Secret(SECRET), f"msg_{unique}_b", int(time.time()), body)})
        assert tampered.status_code == 401 and tampered.json()["error"] == "bad signature"
        line = wait_for(lambda: push_lines(proc)[2:3], what="a line for the tampered push")[0]
        assert "signature BAD" in line and "new" not in line.split("signature BAD")[1], line

        # Signed with a secret the receiver does not hold: BAD too.
        assert post(url, body, f"msg_{unique}_c", secret=OTHER).status_code == 401
        # The tampered id was never accepted, so its honest delivery is new, not a duplicate.
        assert post(url, body, f"msg_{unique}_b").json() == {"ok": True, "duplicate": False}
        lines = wait_for(lambda: push_lines(proc)[4:5] and push_lines(proc), what="five lines")
        assert [("signature ok" in l, l.split("  ")[-2] if "(" not in l else "rejected") for l in lines] == [
            (True, "new"), (True, "duplicate"), (False, "rejected"), (False, "rejected"), (True, "new")], lines
    finally:
        proc.stop()


def test_without_a_secret_it_says_signatures_are_unchecked_and_still_dedupes(tmp_path, unique):
    proc, url = receiver(tmp_path, "receiver-unchecked")
    try:
        assert "signatures are not checked" in proc.log.read_text()
        body = json.dumps({"delivery_id": "x", "event_id": "e", "type": "article.published",
                           "article": {"id": f"plain-{unique}", "version": 1}}).encode()
        assert post(url, body, f"msg_{unique}", secret=None).status_code == 200
        assert post(url, body, f"msg_{unique}", secret=None).json()["duplicate"] is True
        lines = wait_for(lambda: len(push_lines(proc)) == 2 and push_lines(proc), what="two lines")
        assert f"plain-{unique} v1  json  signature unchecked  new" in lines[0], lines
        assert "signature unchecked  duplicate" in lines[1], lines
    finally:
        proc.stop()


def test_a_missing_secret_variable_is_one_line_and_exit_2(tmp_path):
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_SECRET"}
    out = subprocess.run([sys.executable, "-m", "syndication.cli", "receiver", "--port", str(free_port()),
                          "--secret-env", "NO_SUCH_SECRET"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0, out.stderr
    assert "NO_SUCH_SECRET is not set" in out.stderr
