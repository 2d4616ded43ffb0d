"""`syndication receiver`, the partner-side endpoint docs/tutorials/first-run.md offers to test an integration.

Real HTTP to the real command (a subprocess), signed by the service's own signer
(syndication/partners/signing.py), verified by the `standardwebhooks` library inside the
receiver; what it prints is read from its stdout, one line per push.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
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


STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  ")


def push_lines(proc: Proc) -> list[str]:
    """The receiver's line per request (a push, or a request it rejected)."""
    return [line for line in proc.log.read_text().splitlines() if STAMP.match(line)]


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
        assert line.endswith("  rejected  signature BAD  (No matching signature found)"), line
        assert aid not in line and "msg_" not in line, "nothing of an unverified request is shown"

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


# --- a receiver that cannot be lied to (issue 22, item 7) ------------------------------------------
# Raw sockets: the requests below are ones an HTTP library would not send.

FORGED = "\n2026-11-25 10:00:01Z  forged-story v9  ninjs  signature ok  new  msg_forged"
HOSTILE = "a\x1b[2J\x1b]0;owned\x07\u202eb\u2028c\x9b31md\x7f\r" + FORGED  # ESC, OSC, bidi, LS, C1, DEL, CR, LF
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send `data` on one connection; everything the receiver answers until it closes (or goes quiet)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        try:
            while chunk := s.recv(65536):
                got += chunk
        except TimeoutError:
            pass
        return got


def raw_post(body: bytes, headers: dict[str, str], framing: str | None = None) -> bytes:
    lines = ["POST /partner/ingest HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines.append(framing if framing is not None else f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def statuses(answer: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"^HTTP/1\.[01] (\d{3}) ", answer, re.M)]


def test_an_unsigned_request_prints_one_rejected_line_with_nothing_taken_from_it(tmp_path, unique):
    proc, url = receiver(tmp_path, "receiver-forged", "--secret-env", "PARTNER_SECRET", PARTNER_SECRET=SECRET)
    try:
        body = json.dumps({"type": "article.published", "article": {"id": HOSTILE, "version": 9}}).encode()
        for headers in ({"Content-Type": "application/json", "webhook-id": "msg_\x1b[31mforged"},
                        {"Content-Type": "application/json", "webhook-id": "msg_x", "webhook-timestamp": "\x1b[0m",
                         "webhook-signature": "v1,Zm9yZ2Vk"}):
            answer = exchange(port_of(url), raw_post(body, {**headers, "Connection": "close"}))
            assert statuses(answer) == [401], answer
        lines = wait_for(lambda: len(push_lines(proc)) >= 2 and push_lines(proc), what="two rejected lines")
        log = proc.log.read_text()
        assert [STAMP.sub("", line, count=1) for line in lines] == [
            "rejected  signature BAD  (Missing required headers)",
            "rejected  signature BAD  (Invalid Signature Headers)"], log
        assert "forged" not in log and "signature ok" not in log and not RAW_CONTROLS.search(log), log
    finally:
        proc.stop()


def test_a_verified_push_is_printed_on_one_line_with_every_control_character_escaped(tmp_path, unique):
    for flags, env, secret, verdict in ((("--secret-env", "PARTNER_SECRET"), {"PARTNER_SECRET": SECRET}, SECRET,
                                         "signature ok"), ((), {}, None, "signature unchecked")):
        proc, url = receiver(tmp_path, f"receiver-escape-{bool(secret)}", *flags, **env)
        try:
            body = json.dumps({"type": "article.published", "article": {"id": HOSTILE, "version": "1 2"}}).encode()
            assert post(url, body, f"msg_{unique}", secret=secret).status_code == 200
            lines = wait_for(lambda: push_lines(proc), what="the line of the push")
            log = proc.log.read_text()
            assert len(lines) == 1 and not RAW_CONTROLS.search(log), log
            expected = ('"a\\x1b[2J\\x1b]0;owned\\x07\\u202eb\\u2028c\\x9b31md\\x7f\\r\\n2026-11-25 10:00:01Z  '
                        'forged-story v9  ninjs  signature ok  new  msg_forged" v"1 2"  json  '
                        f'{verdict}  new  msg_{unique}')
            assert STAMP.sub("", lines[0], count=1) == expected, lines[0]
        finally:
            proc.stop()


def test_chunked_or_unframed_bodies_are_refused_and_never_read_as_the_next_request(tmp_path, unique):
    proc, url = receiver(tmp_path, "receiver-framing", "--secret-env", "PARTNER_SECRET", PARTNER_SECRET=SECRET)
    port = port_of(url)
    try:
        # A chunked body carrying a second request: read as Content-Length 0, the chunk would be the
        # next request on the connection. Refused with 411 and the connection closed: one answer only.
        smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
        chunked = raw_post(f"{len(smuggled):x}\r\n".encode() + smuggled + b"\r\n0\r\n\r\n",
                           {"Content-Type": "application/json"}, framing="Transfer-Encoding: chunked")
        answer = exchange(port, chunked)
        assert statuses(answer) == [411] and b"connection: close" in answer.lower(), answer
        # Both framings at once (the classic smuggling pair): the same.
        both = raw_post(b"0\r\n\r\n", {"Transfer-Encoding": "chunked"}, framing="Content-Length: 5")
        assert statuses(exchange(port, both)) == [411]
        assert statuses(exchange(port, raw_post(b"", {}, framing=""))) == [411]  # no length at all
        assert statuses(exchange(port, raw_post(b"{}", {}, framing="Content-Length: 2\r\nContent-Length: 2"))) == [400]
        assert statuses(exchange(port, raw_post(b"{}", {}, framing="Content-Length: \u00b2".encode().decode("latin-1")))) == [400]
        assert statuses(exchange(port, raw_post(b"", {}, framing=f"Content-Length: {10 * 1024 * 1024 + 1}"))) == [413]
        lines = wait_for(lambda: len(push_lines(proc)) >= 6 and push_lines(proc), what="six rejected lines")
        assert [STAMP.sub("", line, count=1).split("  (")[0] for line in lines] == [
            "rejected  HTTP 411", "rejected  HTTP 411", "rejected  HTTP 411", "rejected  HTTP 400",
            "rejected  HTTP 400", "rejected  HTTP 413"], lines
        # A well-framed signed push on a kept-alive connection still works after all that.
        assert post(url, ninjs_push(f"framed-{unique}", 1), f"msg_{unique}").status_code == 200
    finally:
        proc.stop()


def test_a_slow_loris_is_cut_off_and_an_idle_connection_closed_while_pushes_go_on(tmp_path, unique):
    from syndication.cli.receiver import IDLE_SECONDS, REQUEST_SECONDS

    proc, url = receiver(tmp_path, "receiver-slow", "--secret-env", "PARTNER_SECRET", PARTNER_SECRET=SECRET)
    port = port_of(url)
    closed_after: dict[str, float] = {}

    def trickle():  # a header byte every second: under any per-read timeout, never a whole request
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            try:
                while time.monotonic() - started < REQUEST_SECONDS + 10:
                    s.sendall(b"a")
                    try:
                        if s.recv(1024) == b"":
                            break
                    except TimeoutError:
                        pass
            except OSError:  # reset: cut off all the same
                pass
        closed_after["trickle"] = time.monotonic() - started

    def idle():
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_SECONDS + 10) as s:
            try:
                s.recv(1024)
            except OSError:
                pass
        closed_after["idle"] = time.monotonic() - started

    try:
        threads = [threading.Thread(target=trickle), threading.Thread(target=idle)]
        for t in threads:
            t.start()
        for n in range(3):  # meanwhile the receiver answers pushes as usual
            assert post(url, ninjs_push(f"slow-{unique}-{n}", 1), f"msg_{unique}_{n}").status_code == 200
        for t in threads:
            t.join(timeout=REQUEST_SECONDS + 15)
        assert closed_after["idle"] < IDLE_SECONDS + 2, closed_after
        assert REQUEST_SECONDS - 1 < closed_after["trickle"] < REQUEST_SECONDS + 3, closed_after
    finally:
        proc.stop()
