"""The processes `syndication up` starts: run them, show what matters of their output, and stop
every one of them on any way out.

    sup = Supervisor(verbose=False)
    sup.add("api", argv, env)
    code = sup.run(ready=probe, on_ready=lambda: print("... Ctrl-C stops all"))

What `up` promises, whatever happens to it:

- a child that exits stops all the others (a half-running service looks healthy and isn't);
- SIGTERM or SIGINT stops every child (SIGTERM first, SIGKILL after STOP_GRACE seconds; a
  second Ctrl-C kills at once); SIGHUP is left to the caller (it reloads the partners file);
- stdout going away (`up | head -3`, quitting `up | less`) stops every child instead of
  raising BrokenPipeError out of the loop, as a program killed by SIGPIPE would have;
- an exception anywhere, or `up` being killed outright: `close()` (finally and atexit) kills
  what is left, and every child gets PR_SET_PDEATHSIG, so even SIGKILL to `up` takes them along.

Quiet by default: a child's start-up output (Celery's banner, warnings) is held back and
replaced by one ready line; it is shown only if the child dies before it is ready, because
then it is the explanation. After that, Celery's own INFO chatter is dropped and our logs
(logger `syndication.*`) and every warning or error are shown. `verbose` shows everything.

Why not honcho (which `up` used before): honcho runs each child behind a forked helper that
ignores SIGTERM and SIGINT, in a session of its own, and its loop raises out on a write to a
closed stdout, so the helpers and children outlived `up`; and a parent-death signal can only
be tied to the helper, not to `up`. This is the same select loop without those helpers.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

STOP_GRACE = 15.0  # a worker finishes the push in flight (bounded by its timeouts) and records it
PROBE_EVERY = 0.25
HELD_LINES = 40  # start-up output kept per child, shown if it dies before it is ready
PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None]:
    """A preexec_fn: the child gets SIGTERM when the process that started it dies (Linux)."""
    parent = os.getpid()

    def preexec() -> None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (AttributeError, OSError):  # not Linux: close() and the signal handlers still stop it
            return
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return preexec


def readable(line: str) -> str:
    """A JSON log line (infra/logs.py) as a console line: `feed rendered feed=all outcome=changed`,
    the level only when it is not info, the error's last line. Anything else as it is."""
    if not line.startswith("{"):
        return line
    try:
        doc = json.loads(line)
    except ValueError:
        return line
    if not isinstance(doc, dict) or "msg" not in doc:
        return line
    level = str(doc.get("level", "info"))
    fields = " ".join(f"{k}={v}" for k, v in doc.items() if k not in ("ts", "level", "logger", "msg", "error"))
    error = str(doc.get("error") or "").strip().splitlines()
    return " ".join(part for part in ((level.upper() + ":") if level != "info" else "", str(doc["msg"]), fields,
                                      f"({error[-1]})" if error else "") if part)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict
    ready_on_output: bool = False  # no probe: its first line of output says it is up
    popen: subprocess.Popen | None = None
    ready: bool = False
    returncode: int | None = None
    held: deque = field(default_factory=lambda: deque(maxlen=HELD_LINES))
    partial: bytes = b""


class Supervisor:
    def __init__(self, verbose: bool = False, out=None):
        self.verbose = verbose
        self.out = out or sys.stdout
        self.children: list[Child] = []
        self.stopping: str | None = None  # why, once we are stopping
        self.kill_at = 0.0
        self.failed = False
        self._signal: int | None = None
        self._width = 6
        self._closed = False

    # -- setting up ---------------------------------------------------------------------------

    def add(self, name: str, argv: list[str], env: dict, ready_on_output: bool = False) -> Child:
        child = Child(name, argv, env, ready_on_output)
        self.children.append(child)
        self._width = max(self._width, len(name))
        return child

    def start(self) -> None:
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for child in self.children:
            # Own process group: a Ctrl-C reaches `up` alone, which stops the children in order.
            child.popen = subprocess.Popen(child.argv, env=child.env, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           process_group=0, preexec_fn=die_with_parent())
            os.set_blocking(child.popen.stdout.fileno(), False)
            if self.verbose:
                self.say(f"{child.name} started (pid {child.popen.pid})")

    # -- output ---------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """A line of ours. Never raises: a closed stdout is a reason to stop, not to crash."""
        self._write(f"syndication: {text}")

    def _write(self, line: str) -> None:
        try:
            print(line, file=self.out, flush=True)
        except (BrokenPipeError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno not in (errno.EPIPE, errno.EIO, errno.EBADF, None):
                raise
            self._stdout_gone()

    def _stdout_gone(self) -> None:
        # The reader left. Later writes (ours, and Python's flush at exit) go to /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self.out.fileno())
        except (OSError, ValueError):
            pass
        os.close(devnull)
        if not self.stopping:
            try:
                print("syndication: stdout closed; stopping every process", file=sys.stderr, flush=True)
            except OSError:
                pass
            self.stop("stdout closed")

    def _relay(self, child: Child, line: str) -> None:
        if self.verbose and not child.ready and child.ready_on_output and line.strip():
            self.mark_ready(child, None)
        if self.verbose or self._shown(child, line):
            text = line if self.verbose else readable(line)
            self._write(f"{datetime.now():%H:%M:%S} {child.name.ljust(self._width)} | {text}")

    def _shown(self, child: Child, line: str) -> bool:
        if not child.ready:
            if child.ready_on_output and line.strip():
                self.mark_ready(child, None)
                return True
            child.held.append(line)
            return False
        if not line.strip() or line.startswith("worker: Warm shutdown"):
            return False
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                return True
            return (str(doc.get("logger", "")).startswith("syndication")
                    or doc.get("level") in ("warning", "error", "critical"))
        return True

    def mark_ready(self, child: Child, text: str | None) -> None:
        child.ready = True
        child.held.clear()
        if text:
            self.say(text)

    # -- stopping -------------------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        if self.stopping and signum == signal.SIGINT and self._signal == signal.SIGINT:
            self.kill_at = 0.0  # a second Ctrl-C: no more waiting
        self._signal = signum

    def stop(self, reason: str) -> None:
        if self.stopping:
            return
        self.stopping = reason
        live = [c for c in self.children if c.popen and c.returncode is None]
        if live:
            self.say(f"{reason}; stopping {len(live)} processes")
        for child in live:
            self._kill(child, signal.SIGTERM)
        self.kill_at = time.monotonic() + STOP_GRACE

    @staticmethod
    def _kill(child: Child, sig: int) -> None:
        try:
            os.killpg(child.popen.pid, sig)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        """Whatever is still running dies: for every exit path (finally, atexit)."""
        if self._closed:
            return
        self._closed = True
        live = [c for c in self.children if c.popen and c.popen.poll() is None]
        for child in live:
            self._kill(child, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for child in live:
            try:
                child.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill(child, signal.SIGKILL)
                child.popen.wait()

    # -- the loop -------------------------------------------------------------------------------

    def run(self, ready: Callable[[list[Child]], dict[str, str]], on_ready: Callable[[], None]) -> int:
        """Supervise until every child has exited. `ready(waiting)` -> {name: ready line} for the
        children that became ready; `on_ready()` once all are. Exit code: 0 after a signal or a
        closed stdout, 1 when a child died on its own."""
        self.start()
        sel = selectors.DefaultSelector()
        for child in self.children:
            sel.register(child.popen.stdout, selectors.EVENT_READ, child)
        reader_gone = self._reader_watch()
        announced, next_probe = False, 0.0
        while True:
            if reader_gone is not None and not self.stopping and reader_gone.poll(0):
                self._stdout_gone()  # `| less` quit while nothing was being written
            for key, _ in sel.select(timeout=0.2):
                if not self._read(key.data):
                    sel.unregister(key.fileobj)
            if self._signal is not None and not self.stopping:
                self.stop(f"{signal.Signals(self._signal).name} received")
            self._reap()
            if all(c.returncode is not None for c in self.children):
                break
            now = time.monotonic()
            if self.stopping and now >= self.kill_at:
                for child in self.children:
                    if child.returncode is None:
                        self.say(f"{child.name} did not stop within {STOP_GRACE:.0f}s; killed")
                        self._kill(child, signal.SIGKILL)
                self.kill_at = now + 3600
            if not self.stopping and not announced and now >= next_probe:
                waiting = [c for c in self.children if not c.ready and not c.ready_on_output]
                for name, text in (ready(waiting) if waiting else {}).items():
                    self.mark_ready(next(c for c in self.children if c.name == name), text)
                next_probe = now + PROBE_EVERY
                if all(c.ready for c in self.children):
                    announced = True
                    on_ready()
        for key in list(sel.get_map().values()):
            self._read(key.data)
        sel.close()
        self._closed = True
        self.say("every process stopped" if not self.failed else "every process stopped (exit 1)")
        return 1 if self.failed else 0

    def _reader_watch(self):
        """When stdout is a pipe, a poll that reports its reader leaving (POLLERR) without a write."""
        import select
        import stat

        try:
            fd = self.out.fileno()
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                return None
        except (OSError, ValueError, AttributeError):
            return None
        watch = select.poll()
        watch.register(fd, 0)  # no events asked: only POLLERR/POLLHUP are reported
        return watch

    def _read(self, child: Child) -> bool:
        try:
            data = os.read(child.popen.stdout.fileno(), 65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            if child.partial:
                self._relay(child, child.partial.decode("utf-8", "replace"))
                child.partial = b""
            return False
        *lines, child.partial = (child.partial + data).split(b"\n")
        for line in lines:
            self._relay(child, line.decode("utf-8", "replace").rstrip("\r"))
        return True

    def _reap(self) -> None:
        for child in self.children:
            if child.returncode is not None or child.popen.poll() is None:
                continue
            child.returncode = child.popen.returncode
            if self.stopping:
                if self.verbose:
                    self.say(f"{child.name} stopped (exit {child.returncode})")
                continue
            self.failed = True
            self._read(child)
            if not child.ready and child.held and not self.verbose:
                for line in child.held:
                    if line.strip():
                        self._write(f"{child.name.ljust(self._width)} | {line}")
            when = "before it was ready" if not child.ready else "on its own"
            self.stop(f"{child.name} exited with code {child.returncode} {when}")
