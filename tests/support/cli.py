"""The `syndication` command as the tests run it: one process per run, several at once, or many in one.

- `run`: `python -m syndication.cli ARGS` (what the console script runs) as its own process.
- `run_all`: several such processes at once, for runs that mostly wait (an unreachable Redis
  is retried for ~1.5 s before the one-line error).
- `run_in_one`: many runs in ONE fresh interpreter, each through `syndication.cli.main(argv)`
  exactly as `python -m syndication.cli` calls it, with its own stdout, stderr and exit code
  (an uncaught exception prints its traceback and exits 1, as Python would). A run then costs
  its parse and its command, not Python's start-up and the CLI's imports (~0.5 s each): for
  the tables of hostile option values, where every run is refused before it does anything.

A run still going after `timeout` seconds comes back as the string "still running after N s".
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
Outcome = subprocess.CompletedProcess | str

# Runs in the child interpreter: argv lists and the timeout on stdin, results to the file named
# in argv[1] (the runs' own output may go anywhere, the results are not mixed into it).
_RUNNER = r"""
import contextlib, io, json, signal, sys, traceback
from syndication.cli import main

class Overran(BaseException):
    pass

def overran(signum, frame):
    raise Overran()

signal.signal(signal.SIGALRM, overran)
runs, timeout = json.load(sys.stdin)
results = []
for argv in runs:
    out, err, code = io.StringIO(), io.StringIO(), None
    signal.alarm(timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) or exc.code is None else 1
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
            except Exception:
                traceback.print_exc()
                code = 1
    except Overran:
        code = "overran"
    finally:
        signal.alarm(0)
    results.append([None if code == "overran" else code or 0, out.getvalue(), err.getvalue()])
with open(sys.argv[1], "w") as fh:
    json.dump(results, fh)
"""


def run(env: dict, *args: str, timeout: float = 30) -> Outcome:
    """`syndication ARGS` as its own process."""
    try:
        return subprocess.run([sys.executable, "-m", "syndication.cli", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"still running after {timeout:.0f} s"


def run_all(env: dict, runs: list[list[str]], timeout: float = 30, at_once: int = 4) -> list[Outcome]:
    """Each argument list as its own process, `at_once` at a time; outcomes in the order of `runs`."""
    with ThreadPoolExecutor(at_once) as pool:
        return list(pool.map(lambda args: run(env, *args, timeout=timeout), runs))


def run_in_one(env: dict, runs: list[list[str]], tmp: Path, timeout: int = 30) -> list[Outcome]:
    """Each argument list through `syndication.cli.main`, all in one fresh interpreter."""
    results = tmp / "cli-runs.json"
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(results)], env=env, cwd=ROOT, text=True,
                          input=json.dumps([runs, timeout]), capture_output=True,
                          timeout=timeout * len(runs) + 60)
    assert proc.returncode == 0 and results.exists(), f"the CLI runner failed: {proc.stderr[-2000:]}"
    return [f"still running after {timeout} s" if code is None else
            subprocess.CompletedProcess(["syndication", *args], code, out, err)
            for args, (code, out, err) in zip(runs, json.loads(results.read_text()))]
