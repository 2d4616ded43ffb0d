"""Nothing the service runs forks a copy of a running interpreter.

Every service process has threads (Celery's threads pool, the delivery engine's pushers, the
API's event loop and thread pool), and a fork of a multi-threaded process copies only the
forking thread: locks held by the others stay held forever in the child. Python 3.12+ warns
about it ("This process is multi-threaded, use of fork() may lead to deadlocks in the child")
and 3.14 no longer forks by default in multiprocessing. So: new processes are started with
subprocess (fork+exec, a fresh interpreter), the prefork pool is refused (workers/app.py), and
any multiprocessing names its start method, never "fork". Checked on the source, here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("syndication", "workers", "benchmarks", "tests")
FORKS = {"fork", "forkpty", "register_at_fork"}  # os.*


def forks(tree: ast.AST) -> list[str]:
    """Calls that fork the interpreter: os.fork/forkpty, multiprocessing without a start method
    other than "fork" (Process, Pool, ... straight from the module), get_context("fork")."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
        if owner == "os" and name in FORKS:
            found.append(f"os.{name}, line {node.lineno}")
        elif owner in ("multiprocessing", "mp") and name in ("Process", "Pool", "Manager", "Queue", "Pipe"):
            found.append(f"{owner}.{name} with the default start method, line {node.lineno}")
        elif name in ("get_context", "set_start_method") and any(
                isinstance(a, ast.Constant) and a.value == "fork" for a in node.args):
            found.append(f'{name}("fork"), line {node.lineno}')
    return found


def test_the_check_can_fail():
    code = ('import os, multiprocessing as mp\nos.fork()\nmp.Process(target=print)\n'
            'mp.get_context("fork")\nmp.get_context("spawn").Process(target=print)\n')
    assert len(forks(ast.parse(code))) == 3


def test_no_source_forks_the_interpreter():
    found = {}
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "vendor" in path.parts:
                continue  # the W3C validator, run in-process and single-threaded
            hits = forks(ast.parse(path.read_text(encoding="utf-8")))
            if hits:
                found[str(path.relative_to(ROOT))] = hits
    assert not found, f"forks a multi-threaded interpreter (use subprocess or a spawn context): {found}"
