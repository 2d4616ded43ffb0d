"""deploy/systemd/: units systemd accepts, starting the API and workers as `syndication up` does.

The worker templates must give each queue the pool and concurrency of
syndication.cli.topology.worker_specs() and the flags cli/run.py adds, and name nodes per host
(%H) so that `syndication status` groups them by host. `systemd-analyze verify` checks each unit
(on a copy whose paths point at this checkout, since /opt/syndication does not exist here).
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from syndication.cli import topology

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"


def directives(unit: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def execstart(unit: str) -> list[str]:
    return directives(unit)["ExecStart"][0].split()


def option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_worker_templates_run_the_topology_of_syndication_up():
    specs = {s.queue: s for s in topology.worker_specs({"SYNDICATION_DELIVERY_PROCESSES": "1"})}
    run_py = (ROOT / "syndication" / "cli" / "run.py").read_text()
    worker, deliveries = execstart("syndication-worker@.service"), execstart("syndication-deliveries@.service")
    for argv in (worker, deliveries):
        assert argv[0] == "/opt/syndication/.venv/bin/celery" and argv[1:4] == ["-A", "workers", "worker"]
        assert option(argv, "-l") == "info"  # delivery outcomes are INFO lines
        for flag in ("--without-gossip", "--without-mingle", "-E"):
            assert flag in argv and f'"{flag}"' in run_py, flag
    assert option(worker, "-Q") == "%i" and option(worker, "-n") == "%i@%H"
    for queue in ("events", "feeds"):
        assert (option(worker, "-P"), int(option(worker, "-c"))) == (specs[queue].pool, specs[queue].concurrency)
    assert option(deliveries, "-Q") == "deliveries" and option(deliveries, "-n") == "deliveries%i@%H"
    assert (option(deliveries, "-P"), int(option(deliveries, "-c"))) == (specs["deliveries"].pool,
                                                                        specs["deliveries"].concurrency)
    # SYNDICATION_DELIVERY_THREADS is retired: nothing sizes the deliveries pool on its own any more.
    assert "SYNDICATION_DELIVERY_THREADS" not in (UNITS / "syndication-deliveries@.service").read_text()
    api = execstart("syndication-api.service")
    assert api[:2] == ["/opt/syndication/.venv/bin/syndication", "api"]
    for unit in ("syndication-api.service", "syndication-worker@.service", "syndication-deliveries@.service"):
        d = directives(unit)
        assert d["EnvironmentFile"] == ["/etc/syndication/syndication.env"] and d["Restart"] == ["always"], unit
        assert d["WantedBy"] == ["syndication.target"] and d["PartOf"] == ["syndication.target"], unit


def test_the_env_example_sets_only_known_settings(tmp_path):
    from syndication.configuration import load_settings

    env = {}
    for line in (UNITS / "syndication.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    assert all(k.startswith("SYNDICATION_") for k in env)
    (tmp_path / "partners.yaml").write_text("partners: []\n")
    env["SYNDICATION_PARTNERS_FILE"] = str(tmp_path / "partners.yaml")
    env["SYNDICATION_FEEDS_FILE"] = str(ROOT / "config" / "feeds.example.yaml")
    settings = load_settings(env)
    assert settings.delivery_retention == 3 * 86400


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_accepts_every_unit(tmp_path):
    (tmp_path / "env").write_text("")
    names = []
    for unit in UNITS.iterdir():
        if unit.suffix not in (".service", ".target"):
            continue
        text = unit.read_text().replace("/opt/syndication", str(ROOT)).replace(
            "/etc/syndication/syndication.env", str(tmp_path / "env"))
        name = unit.name.replace("@.", "@events." if "worker@" in unit.name else "@1.")
        (tmp_path / name).write_text(text)
        names.append(f"./{name}")
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], cwd=tmp_path, capture_output=True,
                         text=True, env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and not out.stderr.strip(), out.stdout + out.stderr
