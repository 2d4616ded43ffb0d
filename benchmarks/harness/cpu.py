"""CPU time per process and for the whole machine, from /proc.

Owns: `cpu_seconds` (user+sys of one process, all its threads), `children` (a prefork pool's processes), `cpu_of`/`cpu_since` (a set of
named processes over a stretch of time), `machine_busy` (all cores, from /proc/stat) and
`CpuSampler`, which samples both in the background so that a case can ask afterwards for the
CPU used between any two moments and for the busiest second.

Why CPU time: on a small machine the question is which process ran out of CPU. A Python process
cannot use much more than one core (the GIL), so one at ~100% of a core is the bottleneck.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # the name may hold spaces
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The direct children of a process (a prefork pool's workers), from /proc/<pid>/stat of every process."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(out)


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_since(pids: dict[str, int], before: dict[str, float]) -> dict[str, float]:
    """CPU seconds each named process used since `before` (a cpu_of() of the same names)."""
    return {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores) since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """Samples CPU seconds of named processes and of the whole machine ("machine") every `interval` s."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.pids: dict[str, int] = {}
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def sample(self) -> None:
        with self.lock:
            pids = dict(self.pids)
        vals = cpu_of(pids)
        vals["machine"] = machine_busy()
        with self.lock:
            self.samples.append((time.time(), vals))

    def start(self, pids: dict[str, int]) -> None:
        with self.lock:
            self.pids = dict(pids)
            self.samples = []
        self._stop.clear()
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self.sample()

    def _at(self, t: float, before: bool) -> tuple[float, dict]:
        with self.lock:
            samples = list(self.samples)
        if before:
            cands = [s for s in samples if s[0] <= t]
            return cands[-1] if cands else samples[0]
        cands = [s for s in samples if s[0] >= t]
        return cands[0] if cands else samples[-1]

    def window(self, start: float, end: float) -> tuple[float, dict[str, float]]:
        """(seconds, CPU seconds per name) between the samples enclosing [start, end]."""
        t0, a = self._at(start, before=True)
        t1, b = self._at(end, before=False)
        return t1 - t0, {k: b[k] - a[k] for k in b if k in a}

    def peak(self, name: str, start: float, end: float, span: float = 1.0) -> float:
        """Highest share of one core `name` used over any `span`-second stretch in [start, end]."""
        with self.lock:
            samples = [s for s in self.samples if start - self.interval <= s[0] <= end + self.interval]
        best = 0.0
        j = 0
        for i in range(len(samples)):
            while j < len(samples) and samples[j][0] - samples[i][0] < span:
                j += 1
            if j >= len(samples):
                break
            dt = samples[j][0] - samples[i][0]
            if dt > 0 and name in samples[i][1] and name in samples[j][1]:
                best = max(best, (samples[j][1][name] - samples[i][1][name]) / dt)
        return best
