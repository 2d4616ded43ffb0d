"""Partners "far away" on one machine: a network namespace reached over a veth pair.

    with PartnerNet() as net:          # namespace wan-<pid>-<run>, veth: root 10.213.N.1 <-> 10.213.N.2 inside
        argv = net.exec_argv([...])     # a command that runs inside the namespace
        net.address                     # where the partners listen (10.213.N.2, or 127.0.0.1 in the fallback)
    # the namespace, its veth and anything still running inside are gone here, also after a failure

Why a namespace: the service's pushes then leave its network stack through a real interface (a
veth link, its own route) instead of the loopback shortcut, as pushes to partners elsewhere
would. Traffic never leaves the machine: both ends are interfaces this run creates, the subnet
10.213.N.0/24 is routed only over that veth, and N is the lowest third octet no interface or
route of this machine uses yet.

No netem in this kernel (STACK.md, trap 20): the round-trip delay is added in user space, by the
receiver (benchmarks/harness/wan_partner.py). On a stock kernel the same delay can be put on the
link itself, e.g. 50 ms each way (100 ms round trip) on both ends of the veth:

    tc qdisc add dev <root end> root netem delay 50ms
    ip netns exec <namespace> tc qdisc add dev wan0 root netem delay 50ms

(then run the receiver with rtt 0). Without root or iproute2, `PartnerNet` falls back to
127.0.0.1 (`fallback` says why): the receiver's delay is the same, the path is loopback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

PREFIX = "wan-"
LOOPBACK = "127.0.0.1"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and out.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {out.stderr.strip()}")
    return out


def unavailable_reason() -> str | None:
    """Why no namespace can be made here (the run falls back to 127.0.0.1), or None."""
    if os.geteuid() != 0:
        return "not root (network namespaces need it)"
    if not shutil.which("ip"):
        return "no `ip` (iproute2) on PATH"
    probe = f"{PREFIX}probe-{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


class PartnerNet:
    """One namespace for the partners and the veth pair to it; or the loopback fallback."""

    def __init__(self, use_namespace: bool = True):
        self.run = uuid.uuid4().hex[:5]
        self.netns = f"{PREFIX}{os.getpid()}-{self.run}"
        self.veth = f"wan{self.run}"  # the root end; the namespace's end is called wan0
        self.fallback: str | None = None if use_namespace else "--no-namespace given"
        self.address = LOOPBACK
        self.root_address = LOOPBACK
        self.made = False

    def __enter__(self) -> PartnerNet:
        if self.fallback is None:
            self.fallback = unavailable_reason()
        if self.fallback:
            return self
        _remove_stale()
        try:
            n = _free_octet()
            self.root_address, self.address = f"10.213.{n}.1", f"10.213.{n}.2"
            _ip("netns", "add", self.netns)
            self.made = True
            _ip("-n", self.netns, "link", "set", "lo", "up")
            _ip("link", "add", self.veth, "type", "veth", "peer", "name", "wan0", "netns", self.netns)
            _ip("addr", "add", f"{self.root_address}/24", "dev", self.veth)
            _ip("link", "set", self.veth, "up")
            _ip("-n", self.netns, "addr", "add", f"{self.address}/24", "dev", "wan0")
            _ip("-n", self.netns, "link", "set", "wan0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def exec_argv(self, argv: list[str]) -> list[str]:
        """`argv` run inside the namespace (as itself: `ip netns exec` execs it, the pid is the process's)."""
        return ["ip", "netns", "exec", self.netns, *argv] if self.made else argv

    def describe(self) -> str:
        if not self.made:
            return f"partners on {LOOPBACK} (no namespace: {self.fallback}); delay added by the receiver"
        return (f"partners in network namespace {self.netns} at {self.address}, reached over a veth pair "
                f"({self.veth} {self.root_address} <-> wan0 {self.address}); delay added by the receiver")

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.made:
            _delete_netns(self.netns)
            self.made = False
        _ip("link", "del", self.veth, check=False)  # normally gone with the namespace's end


def _delete_netns(ns: str) -> None:
    """Kill what still runs inside (only this run's processes are there), then delete the namespace."""
    for pid in _ip("netns", "pids", ns, check=False).stdout.split():
        try:
            os.kill(int(pid), 9)
        except (ProcessLookupError, ValueError):
            pass
    _ip("netns", "del", ns, check=False)


def _remove_stale() -> None:
    """Namespaces of earlier runs that were killed (their pid is gone)."""
    for line in _ip("netns", "list").stdout.splitlines():
        ns = line.split()[0] if line.strip() else ""
        m = re.match(rf"{PREFIX}(\d+)-", ns)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            _delete_netns(ns)


def _free_octet() -> int:
    used = _ip("-4", "-o", "addr").stdout + _ip("-4", "route").stdout
    for n in range(1, 255):
        if f"10.213.{n}." not in used:
            return n
    raise RuntimeError("every 10.213.N.0/24 subnet is in use")
