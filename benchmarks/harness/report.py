"""What a benchmark prints: the machine, how to reproduce the run, tables of figures, and JSON.

Owns: `machine` (nproc, CPU model, Python, OS, load average at the start, redis-server and load
client versions); `reproduce_command` (the exact command, from the repository root, with every
option that changes a measurement spelled out); `print_header` (the lines every report opens
with); `table` (a rich Table with the columns' alignment); `ratio` and `quantile`; and
`write_json` (the same figures, machine-readable, for --json).

Figures are given as ratios to a baseline measured in the same run, because absolute numbers
depend on the machine and on what else it is doing; the load average is printed for that reason.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from benchmarks.harness import ROOT


def machine(client_kind: str = "python") -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    client = "python load client"
    if client_kind == "wrk":
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        client = " ".join((wrk.stdout + wrk.stderr).split()[:2])
    nproc = str(len(os.sched_getaffinity(0)))  # what `nproc` prints
    redis_v = subprocess.run([shutil.which("redis-server"), "--version"], capture_output=True, text=True).stdout.split()
    redis_v = next((w.split("=", 1)[1] for w in redis_v if w.startswith("v=")), "?")
    return {"nproc": nproc, "cpu": cpu, "python": platform.python_version(),
            "impl": platform.python_implementation(), "os": f"{platform.system()} {platform.release()}",
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg()), "redis": redis_v,
            "client": client}


def reproduce_command(script: str, opts: list[str]) -> str:
    py = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    return f"cd {shlex.quote(str(ROOT))} && {shlex.join([py, script, *opts])}"


def console(width: int):
    """A rich Console: the terminal's width, or `width` when the output goes to a file or pipe."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else width)


def print_header(out, title: str, m: dict, after_redis: str, reproduce: str, commands: list[str],
                 inside: list[str] = ()) -> None:
    """The title and time, the machine, the command that reproduces the run, what the figures
    include (`inside`: persistence, signing, baselines), the service's commands."""
    out.print(f"[bold]{title}[/bold]  {datetime.now().astimezone():%Y-%m-%d %H:%M:%S %Z}")
    out.print(f"machine: nproc={m['nproc']}  cpu={m['cpu']}  {m['impl']} {m['python']}  {m['os']}  "
              f"redis-server {m['redis']}{after_redis}  load avg at start {m['load']}", soft_wrap=True, markup=False)
    out.print(f"reproduce: {reproduce}", soft_wrap=True, markup=False)
    for line in inside:
        out.print(f"measured: {line}", soft_wrap=True, markup=False)
    out.print("service: " + "  |  ".join(commands), soft_wrap=True, markup=False)


def table(title: str, columns, left: tuple[str, ...] = (), no_wrap: tuple[str, ...] = ()):
    """A left-titled rich Table; columns right-aligned (figures) but those named in `left`."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", caption_justify="left")
    for col in columns:
        t.add_column(col, justify="left" if col in left else "right", no_wrap=col in no_wrap)
    return t


def print_footer(out, started: float) -> None:
    out.print(f"total run time {time.time() - started:.0f} s")


def ratio(x: float, base: float) -> float:
    return x / base if base else float("nan")


def quantile(xs: list[float], q: float) -> float:
    """The sample at rank round(q * (n-1)) of the sorted values; nan for none."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def write_json(path: str | None, doc: dict) -> None:
    """Write the run's figures to `path` (nothing without one); nan becomes null."""
    if not path:
        return

    def clean(v):
        if isinstance(v, float) and v != v:
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    Path(path).write_text(json.dumps(clean(doc), indent=2, ensure_ascii=False) + "\n")
