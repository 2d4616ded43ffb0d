"""The local demo `syndication up` runs when no partners file is configured.

A newcomer's `make run` should show a partner push arriving, signed, without writing any
configuration: `local_env` fills in what is unset (the demo partners file, its signing
secret, local ops and feed keys, the example feeds, WebSub callbacks on this machine allowed) and `processes` names the extra
process that goes with it (the demo receiver the demo partner points at).

The keys are fixed, known values, like the local publisher key: they exist only when no
partners file is set, i.e. on a developer's machine. A deployment sets its own partners
file and keys, and then nothing here applies (except the example feeds when no feeds file
is set, which is what `make run` always did).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: config/ is not in an installed wheel
DEMO_PARTNERS_FILE = ROOT / "config" / "partners.local.yaml"
EXAMPLE_FEEDS_FILE = ROOT / "config" / "feeds.example.yaml"
DEMO_SECRET = "whsec_c3luZGljYXRpb24tbG9jYWwtZGVtby1zZWNyZXQhIQ=="  # local only, in the repo on purpose
LOCAL_OPS_KEY = "local-ops-key"
LOCAL_FEED_KEY = "local-feed-key"
RECEIVER_PORT = 8010


def local_env(env: dict) -> dict:
    """Fill the local defaults into `env` (in place); return what was set, so `up` can say so."""
    wanted: dict[str, str] = {}
    if not env.get("SYNDICATION_FEEDS_FILE") and EXAMPLE_FEEDS_FILE.exists():
        wanted["SYNDICATION_FEEDS_FILE"] = str(EXAMPLE_FEEDS_FILE)
    if not env.get("SYNDICATION_PARTNERS_FILE") and DEMO_PARTNERS_FILE.exists():
        wanted["SYNDICATION_PARTNERS_FILE"] = str(DEMO_PARTNERS_FILE)
        defaults = {"SYNDICATION_DEMO_SECRET": DEMO_SECRET,
                    "SYNDICATION_OPS_KEYS": f"local:{LOCAL_OPS_KEY}",
                    "SYNDICATION_FEED_KEYS": LOCAL_FEED_KEY,
                    # The WebSub tutorial's subscriber is `syndication receiver --websub` on this machine:
                    # the local demo lets our hub call back to 127.0.0.1, a deployment never does by default.
                    "SYNDICATION_WEBSUB_ALLOW_PRIVATE_CALLBACKS": "true"}
        wanted.update({k: v for k, v in defaults.items() if not env.get(k)})
    env.update(wanted)
    return wanted


def uses_demo(env: dict) -> bool:
    configured = env.get("SYNDICATION_PARTNERS_FILE")
    return bool(configured) and Path(configured).resolve() == DEMO_PARTNERS_FILE


def processes(env: dict) -> list[tuple[str, list[str]]]:
    """(name, argv) of the processes the demo adds to `up`: the receiver, with the demo partners file."""
    if not uses_demo(env):
        return []
    return [("receiver", [sys.executable, "-m", "syndication.cli", "receiver", "--host", "127.0.0.1",
                          "--port", str(RECEIVER_PORT), "--secret-env", "SYNDICATION_DEMO_SECRET"])]
