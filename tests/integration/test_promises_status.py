"""`syndication status --watch` refreshes on its own until stopped (docs/how-to/operate.md).

It runs on a pseudo-terminal, as on call: rich's live display only redraws on a terminal.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading

import pytest

from syndication.delivery import circuit
from tests.support.processes import ROOT, wait_for

pytestmark = pytest.mark.integration
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A process on a 250x300 pseudo-terminal; `text()` is everything it drew, escapes stripped."""

    def __init__(self, argv: list[str], env: dict):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 300, 250, 0, 0))
        env = {**env, "TERM": "xterm-256color", "COLUMNS": "250", "LINES": "300"}
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.master, self.out, self.lock = master, bytearray(), threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                with self.lock:
                    self.out += chunk
            elif self.proc.poll() is not None:
                return

    def text(self) -> str:
        with self.lock:
            return ANSI.sub("", self.out.decode("utf-8", "replace"))

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise
        finally:
            self.reader.join(5)
            os.close(self.master)


def row(partner: str, enabled: str) -> re.Pattern:
    return re.compile(rf"[│|]\s*{re.escape(partner)}\s*[│|]\s*{enabled}\b")


def test_status_watch_redraws_what_changed_until_ctrl_c(service):
    ctx = service.ctx
    term = Terminal([sys.executable, "-m", "syndication.cli", "status", "--watch", "0.5"], service.env)
    try:
        wait_for(lambda: "scheduled retries:" in term.text() and row("listing", "yes").search(term.text()),
                 timeout=30, what="the first screen, partner listing enabled")
        drawn = len(term.text())
        circuit.pause(ctx, "listing")  # a change the next refresh must show, without any key pressed
        wait_for(lambda: row("listing", "paused").search(term.text()[drawn:]), timeout=15,
                 what="a later screen showing listing paused")
        redrawn = len(term.text())
        circuit.resume(ctx, "listing")
        wait_for(lambda: row("listing", "yes").search(term.text()[redrawn:]), timeout=15,
                 what="a later screen showing listing enabled again")
    finally:
        circuit.resume(ctx, "listing")
        code = term.stop()
    assert code in (0, 130), term.text()[-2000:]
    assert "Traceback" not in term.text()
