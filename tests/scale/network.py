"""A simulated network of hosts: Linux network namespaces joined by one bridge.

    with Network() as net:                      # switch namespace + the outside world's port
        redis = net.host("redis")               # a namespace with eth0 = 10.77.N.1 on the bridge
        net.exec_argv(redis, ["redis-server", ...])   # argv that runs inside that namespace
        net.unplug(host_b); net.plug(host_b)    # the cable at the switch: link down / up
    # every namespace and link is gone here, also after a failure

The bridge lives in a namespace of its own (the "switch"), so the machine's own firewall and
bridge netfilter settings never see the traffic between hosts. The test process is the
outside world (the publisher posting events, the partners' HTTP servers, the checks): it
reaches the bridge through one veth pair whose root end holds 10.77.N.254. Every other
address is on the bridge, so no process talks over loopback to another host.

Names are per run (`scale-<pid>-<run>-<host>`; interfaces inside a namespace need no
unique names), and the subnet's third octet N is the lowest one no root interface uses, so
two runs side by side do not collide. Namespaces left by a run that was killed (its pid is
gone) are deleted by the next one.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

PREFIX = "scale-"
OUTSIDE = 254  # the test process's address on the bridge: publisher, partners, checks
LOCK = Path("/run/syndication-scale.lock")


class Unavailable(Exception):
    """Namespaces cannot be built here (not root, no `ip`, no permission): the tests skip."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and out.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {out.stderr.strip()}")
    return out


def unavailable_reason() -> str | None:
    """Why this machine cannot run the scale harness, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and veth links)"
    if not shutil.which("ip"):
        return "needs `ip` from iproute2 (apt-get install -y iproute2)"
    if not shutil.which("taskset"):
        return "needs `taskset` from util-linux"
    probe = f"{PREFIX}probe-{os.getpid()}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    name: str  # short: redis, api, a, b
    netns: str  # the namespace's name
    address: str  # on the bridge
    port: str  # the bridge port (in the switch namespace) its cable plugs into


class Network:
    def __init__(self):
        self.run = uuid.uuid4().hex[:5]
        self.stem = f"{PREFIX}{os.getpid()}-{self.run}-"
        self.switch = f"{self.stem}switch"
        self.uplink = f"sc{self.run}"  # root end of the outside world's cable
        self.hosts: dict[str, Host] = {}
        self.subnet = ""
        self.outside = ""

    # -- building ---------------------------------------------------------------------------

    def __enter__(self) -> "Network":
        reason = unavailable_reason()
        if reason:
            raise Unavailable(reason)
        _remove_stale()
        try:
            with open(LOCK, "w") as lock:  # choosing a subnet and taking it is one step among runs
                fcntl.flock(lock, fcntl.LOCK_EX)
                self.subnet = _free_subnet()
                self.outside = f"{self.subnet}.{OUTSIDE}"
                ip("netns", "add", self.switch)
                ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
                ip("-n", self.switch, "link", "set", "br0", "up")
                ip("link", "add", self.uplink, "type", "veth", "peer", "name", "uplink", "netns", self.switch)
                ip("-n", self.switch, "link", "set", "uplink", "master", "br0", "up")
                ip("addr", "add", f"{self.outside}/24", "dev", self.uplink)
                ip("link", "set", self.uplink, "up")
        except BaseException:
            self.close()
            raise
        return self

    def host(self, name: str, octet: int) -> Host:
        """A new host on the bridge: its namespace, loopback up, eth0 at 10.77.N.<octet>."""
        h = Host(name, f"{self.stem}{name}", f"{self.subnet}.{octet}", f"p-{name}")
        self.hosts[name] = h
        ip("netns", "add", h.netns)
        ip("-n", h.netns, "link", "set", "lo", "up")
        ip("-n", self.switch, "link", "add", h.port, "type", "veth", "peer", "name", "eth0", "netns", h.netns)
        ip("-n", self.switch, "link", "set", h.port, "master", "br0", "up")
        ip("-n", h.netns, "addr", "add", f"{h.address}/24", "dev", "eth0")
        ip("-n", h.netns, "link", "set", "eth0", "up")
        return h

    def exec_argv(self, host: Host, argv: list[str], *, cpu: int | None = None) -> list[str]:
        """`argv` run inside `host`: its network namespace and its own hostname (a UTS namespace,
        so Celery's %h and the heartbeats' host name it), pinned to `cpu` if given.
        Each step execs the next: the Popen pid is the service process itself."""
        inner = ["ip", "netns", "exec", host.netns, "unshare", "--uts", "sh", "-c",
                 'hostname "$0" && exec "$@"', f"host-{host.name}", *argv]
        return ["taskset", "-c", str(cpu), *inner] if cpu is not None else inner

    # -- faults -----------------------------------------------------------------------------

    def unplug(self, host: Host) -> None:
        """Pull the host's cable at the switch: its eth0 loses carrier, packets go nowhere;
        nothing on the host is told anything else (its processes keep running)."""
        ip("-n", self.switch, "link", "set", host.port, "down")

    def plug(self, host: Host) -> None:
        ip("-n", self.switch, "link", "set", host.port, "up")

    # -- tearing down -----------------------------------------------------------------------

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Delete every namespace of this run (the veths go with them), killing what still runs
        inside: a namespace with a process in it would outlive `ip netns del`."""
        for ns in [h.netns for h in self.hosts.values()] + [self.switch]:
            _delete_netns(ns)
        ip("link", "del", self.uplink, check=False)


def _netns_list() -> list[str]:
    return [line.split()[0] for line in ip("netns", "list").stdout.splitlines() if line.strip()]


def _delete_netns(ns: str) -> None:
    pids = ip("netns", "pids", ns, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), 9)
        except (ProcessLookupError, ValueError):
            pass
    ip("netns", "del", ns, check=False)


def _remove_stale() -> None:
    for ns in _netns_list():
        m = re.match(rf"{PREFIX}(\d+)-", ns)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            _delete_netns(ns)


def _free_subnet() -> str:
    used = ip("-4", "-o", "addr").stdout + ip("-4", "route").stdout
    for n in range(256):
        if f"10.77.{n}." not in used:
            return f"10.77.{n}"
    raise Unavailable("every 10.77.N.0/24 subnet is in use")
