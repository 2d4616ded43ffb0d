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
    assert "beat" not in services  # every worker sweeps (pipeline/housekeeping.py): no beat to lose
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
