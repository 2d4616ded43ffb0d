"""The log scan: what the service processes logged during a test must hold no secret, no body, no traceback.

Every Proc (tests/support/processes.py) registers its log file in `processes.LOGS` when it
starts. After each test, `LogScan.check` reads the bytes each log gained since the last scan
(up to the last complete line; the offsets carry over, so every byte is read once, by the
test during which it was written) and flags each line holding:

- a secret: every key and partner secret of the test environments (`forbid_env`), as written
  and in the forms it travels in (the HMAC key inside `whsec_...`, basic auth's base64);
- an article body: each sentence of the example events' bodies (tests build their events
  from examples/events/) and `BODY_MARKER`, which a test puts in a body it wants to follow;
- a Python traceback (a raw one, or one inside a JSON line's `error`), unless the test is
  marked `@pytest.mark.expect_traceback("KeyError", reason=...)`: then a traceback that
  contains one of the given strings (any, with none given) is allowed.

tests/conftest.py runs it for every test that uses the `service` fixture or lives in
tests/integration, and fails that test with the offending lines (secrets masked).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tests.support import config, processes
from tests.support.events import EXAMPLES

TRACEBACK = b"Traceback (most recent call last)"
BODY_MARKER = "body-marker-5c1e8a4f-never-logged"
SECRET_SUFFIXES = ("_SECRET", "_TOKEN", "_PASSWORD")
KEY_LISTS = ("SYNDICATION_API_KEYS", "SYNDICATION_OPS_KEYS", "SYNDICATION_FEED_KEYS")

# text that must never be in a log -> what it is (reports name it; the text itself is masked)
FORBIDDEN: dict[str, str] = {}


def forbid(value: str | None, what: str) -> None:
    if value and len(value) >= 6:  # shorter values would match innocent text
        FORBIDDEN.setdefault(value, what)


def forbid_env(env: dict) -> None:
    """Every key (publisher, ops, feed) and every partner secret in `env`, in each form it travels in."""
    for name in KEY_LISTS:
        for key in (env.get(name) or "").split(","):
            forbid(key.strip(), f"a key in {name}")
    for name, value in env.items():
        if not name.endswith(SECRET_SUFFIXES) or not value:
            continue
        for part in value.split():  # rotation: several, space-separated
            forbid(part, f"${name}")
            if part.startswith("whsec_"):
                try:
                    raw = base64.b64decode(part[len("whsec_"):], validate=True)
                except (binascii.Error, ValueError):
                    continue
                forbid(raw.decode("latin-1"), f"${name} (decoded HMAC key)")
    if env.get("RSS_PASSWORD"):  # the basic-auth partner of tests/support/config.py
        forbid(base64.b64encode(f"rss-user:{env['RSS_PASSWORD']}".encode()).decode(), "$RSS_PASSWORD (basic auth)")


def _body_sentences() -> dict[str, str]:
    out = {BODY_MARKER: "BODY_MARKER"}
    for path in sorted(EXAMPLES.glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8")).get("article", {}).get("body_html") or ""
        text = re.sub(r"<[^>]+>", "\n", body)
        for sentence in re.split(r"(?<=[.!?])\s+|\n", text):
            if len(sentence.strip()) >= 25:
                out[sentence.strip()] = f"the body of {path.name}"
    return out


BODIES = _body_sentences()
forbid_env(config.SECRETS)


@dataclass
class Finding:
    log: Path
    kind: str  # secret | body | traceback
    what: str
    text: str

    def __str__(self) -> str:
        text = self.text
        for secret, what in FORBIDDEN.items():
            text = text.replace(secret, f"<{what}>")
        return f"  {self.log.parent.name}/{self.log.name} [{self.kind}: {self.what}]\n    {text}"


def _traceback_text(line: bytes, following: list[bytes]) -> str:
    """The whole traceback a line starts: a JSON line's `error`, or the raw block that follows."""
    text = line.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "error" in doc:
        return f"{doc.get('msg', '')}\n{doc['error']}"
    block = [text]
    for nxt in following[:60]:
        block.append(nxt.decode("utf-8", "replace"))
        if nxt and not nxt[:1].isspace():  # the `ExcType: message` line ends the block
            break
    return "\n".join(block)


def _excerpt(traceback: str, lines: int = 6) -> str:
    parts = traceback.strip().splitlines()
    return "\n    ".join(parts[:1] + (["..."] if len(parts) > lines else []) + parts[1:][-(lines - 1):])


class LogScan:
    """Reads each registered log (`logs`: path -> offset to start at; processes.LOGS by default)
    from where the last scan stopped."""

    def __init__(self, logs: dict[Path, int] | None = None) -> None:
        self.logs = processes.LOGS if logs is None else logs
        self.done: dict[Path, int] = {}

    def _new_lines(self) -> dict[Path, list[bytes]]:
        out = {}
        for log, first in list(self.logs.items()):
            start = self.done.get(log, first)
            try:
                size = log.stat().st_size
            except OSError:
                continue
            if size < start:  # truncated or replaced: read it again from the start
                start = 0
            with open(log, "rb") as fh:
                fh.seek(start)
                chunk = fh.read(size - start)
            end = chunk.rfind(b"\n") + 1  # whole lines only: a line being written is read next time
            self.done[log] = start + end
            if end:
                out[log] = chunk[:end].split(b"\n")[:-1]
        return out

    def skip(self) -> None:
        """Mark everything logged so far as read, unchecked (tests the scan does not cover)."""
        for log in list(self.logs):
            try:
                self.done[log] = log.stat().st_size
            except OSError:
                pass

    def check(self, expected_tracebacks: tuple[str, ...] | None = None) -> list[Finding]:
        """Findings in what the logs gained since the last scan. `expected_tracebacks`: None, no
        traceback is allowed; () any; else a traceback holding one of these strings."""
        found = []
        for log, lines in self._new_lines().items():
            for i, line in enumerate(lines):
                text = line.decode("utf-8", "replace")
                for secret, what in FORBIDDEN.items():
                    if secret in text:
                        found.append(Finding(log, "secret", what, text[:600]))
                for sentence, what in BODIES.items():
                    if sentence in text:
                        found.append(Finding(log, "body", what, text[:600]))
                if TRACEBACK in line:
                    tb = _traceback_text(line, lines[i + 1:])
                    allowed = expected_tracebacks is not None and (
                        not expected_tracebacks or any(s in tb for s in expected_tracebacks))
                    if not allowed:
                        found.append(Finding(log, "traceback", "not expected by this test", _excerpt(tb)))
        return found


def report(findings: list[Finding]) -> str:
    return (f"log scan: {len(findings)} line(s) the service processes must never log, written during "
            f"this test (mark an expected traceback with @pytest.mark.expect_traceback):\n"
            + "\n".join(str(f) for f in findings[:20]))
