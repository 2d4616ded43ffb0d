"""Prometheus's own tools on our metrics and alert rules: promtool (Debian's `prometheus` package).

    require()                                   skip the test, saying why, when promtool is absent
    run("check", "rules", path)                 promtool's CompletedProcess
    check_metrics(scrape_text)                  `promtool check metrics` on a scrape: its complaints
    alert_fires(alert, scrape_text, labels, after=600)
                                                does the rule fire on the state this scrape shows?

`alert_fires` is the real rule engine, not our reading of the rule: it writes a promtool unit
test whose input series are the scrape's samples held constant, and asks `promtool test rules`
whether `ALERTS{alertname=..., alertstate="firing", <labels>}` exists once the state has lasted
`after` seconds plus the rule's `for:` (and one evaluation). Timestamps in the scrape
(`*_timestamp_seconds`, `*_created`) are moved so that promtool's clock 0 is the moment of the
scrape: `time() - some_timestamp` is then the real age, `after` seconds later. So a scrape taken
20 s into an outage says whether the "failing > 10 min" alert would fire if it went on for ten
more minutes, and a healthy partner's series say it would not. Counters are held too, so an
`increase()` rule sees no increase in one scrape (pass hand-written series for those).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
ALERTS_FILE = ROOT / "config" / "prometheus" / "alerts.yml"
PROMTOOL = shutil.which("promtool")
STEP = 60  # seconds between samples and between rule evaluations
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def require() -> str:
    if not PROMTOOL:
        pytest.skip("promtool is not installed (apt-get install -y prometheus; .ci/run installs it)")
    return PROMTOOL


def run(*args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([require(), *args], input=input, capture_output=True, text=True, timeout=timeout)


def check_metrics(scrape_text: str) -> str:
    """What `promtool check metrics` says is wrong with a scrape ('' when nothing is)."""
    out = run("check", "metrics", input=scrape_text)
    said = (out.stdout + out.stderr).strip()
    return said or ("" if out.returncode == 0 else f"promtool exited {out.returncode}")


def seconds(duration: str | None) -> float:
    """A Prometheus duration ('1m', '1h30m') in seconds."""
    return sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(duration or "0s"))


def rule(alert: str, rules_file: Path = ALERTS_FILE) -> dict:
    for group in yaml.safe_load(rules_file.read_text())["groups"]:
        for r in group["rules"]:
            if r.get("alert") == alert:
                return r
    raise KeyError(f"no alert {alert} in {rules_file}")


def _number(v: float) -> str:
    """A value promtool's series notation reads: no exponent (the 'a+bxn' syntax would misread one)."""
    return str(int(v)) if v == int(v) else f"{v:.6f}"


def _selector(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())) + "}"


def input_series(scrape_text: str, samples: int, scraped_at: float | None = None) -> list[dict[str, str]]:
    """The scrape as promtool input series: every sample held for `samples` steps, timestamps moved
    so the scrape happened at promtool's time 0 (see the module docstring)."""
    rows = [(s.name, s.labels, s.value) for fam in text_string_to_metric_families(scrape_text)
            for s in fam.samples]
    if scraped_at is None:
        scraped_at = next((v for n, _, v in rows if n == "syndication_scrape_timestamp_seconds"), None)
    if scraped_at is None:
        raise ValueError("no syndication_scrape_timestamp_seconds in the scrape: pass scraped_at")
    out = []
    for name, labels, value in rows:
        if math.isnan(value) or math.isinf(value):
            continue
        if name.endswith("_timestamp_seconds") or name.endswith("_created"):
            value -= scraped_at
        out.append({"series": _selector(name, labels), "values": f"{_number(value)}+0x{samples}"})
    return out


def alert_fires(alert: str, scrape_text: str, labels: dict[str, str], after: float = 0,
                rules_file: Path = ALERTS_FILE, scraped_at: float | None = None) -> bool:
    """Does `alert` fire, with `labels` among its labels, if the scraped state lasts `after` seconds more?"""
    hold = seconds(rule(alert, rules_file).get("for")) + after
    eval_at = (math.ceil(hold / STEP) + 1) * STEP
    firing = _selector("ALERTS", {**labels, "alertname": alert, "alertstate": "firing"})
    test = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": f"{STEP}s",
        "tests": [{
            "interval": f"{STEP}s",
            "input_series": input_series(scrape_text, eval_at // STEP + 1, scraped_at),
            "promql_expr_test": [{"expr": f"clamp_max(count({firing}), 1) or vector(0)",
                                  "eval_time": f"{eval_at}s", "exp_samples": [{"labels": "{}", "value": 1}]}],
        }],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="alert-test-") as fh:
        yaml.safe_dump(test, fh)
        fh.flush()
        out = run("test", "rules", fh.name)
    if out.returncode == 0:
        return True
    if re.search(r"got:\s*\{\}\s*0E\+00", out.stdout + out.stderr):
        return False
    raise AssertionError(f"promtool test rules failed to run:\n{out.stdout}\n{out.stderr}")
