"""docker-compose.yml: valid against the compose spec, and consistent with our CLI and queues."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def test_compose_file_matches_the_compose_spec():
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    out = subprocess.run([exe, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_services_and_dependencies():
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert {"redis", "api", "worker-events", "worker-feeds", "worker-deliveries", "flower"} <= set(services)
    assert "beat" not in services  # every worker sweeps (ops/housekeeping.py): no beat to lose
    for name, svc in services.items():
        for dep in (svc.get("depends_on") or {}):
            assert dep in services, f"{name} depends on missing service {dep}"
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "noeviction" in redis_cmd and "--maxmemory " in redis_cmd
    for queue in ("events", "feeds", "deliveries"):
        cmd = services[f"worker-{queue}"]["command"]
        assert cmd[:5] == ["celery", "-A", "workers", "worker", "-Q"] and cmd[5] == queue
        assert cmd[cmd.index("-l") + 1] == "info"  # delivery outcomes are INFO lines: WARNING would hide them
    assert services["api"]["command"][:2] == ["syndication", "api"]
    for key in services["api"]["environment"]:
        assert key.startswith("SYNDICATION_")


def test_scale_profile_adds_workers_the_way_our_cli_starts_them():
    """`--profile scale`: more deliveries replicas and a second events and feeds worker, each a Celery worker
    of one of our queues with the flags `syndication up` gives its workers (cli/run.py), named @%h so that
    replicas never share a heartbeat name (ops/heartbeats.py) and `status` shows them per host."""
    from syndication.cli.topology import worker_specs
    from syndication.infra.keys import QUEUES

    services = yaml.safe_load(COMPOSE.read_text())["services"]
    scale = {name: svc for name, svc in services.items() if "scale" in (svc.get("profiles") or [])}
    assert {svc["command"][5] for svc in scale.values()} == set(QUEUES), scale.keys()
    pools = {s.queue: (s.pool, s.concurrency) for s in worker_specs({"SYNDICATION_DELIVERY_PROCESSES": "1"})}
    run_py = (ROOT / "syndication" / "cli" / "run.py").read_text()
    for name, svc in scale.items():
        cmd = svc["command"]
        queue = cmd[5]
        assert cmd[:5] == ["celery", "-A", "workers", "worker", "-Q"], name
        assert (cmd[cmd.index("-P") + 1], int(cmd[cmd.index("-c") + 1])) == pools[queue], name
        assert cmd[cmd.index("-n") + 1] == f"{queue}@%h", name
        assert cmd[cmd.index("-l") + 1] == "info", name
        for flag in ("--without-gossip", "--without-mingle", "-E"):
            assert flag in cmd and f'"{flag}"' in run_py, (name, flag)
        assert svc["build"] == "." and "redis" in svc["depends_on"], name  # the x-app anchor: same image and env
    assert scale["worker-deliveries-scale"]["deploy"]["replicas"] >= 2
