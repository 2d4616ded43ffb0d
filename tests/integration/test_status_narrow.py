"""`syndication status` is readable at 80 columns: no line is wider, every partner is named
with its circuit and waiting count (docs/how-to/operate.md). 150 columns and more keep the table."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def status(env: dict, columns: int) -> str:
    out = subprocess.run([sys.executable, "-m", "syndication.cli", "status"], env={**env, "COLUMNS": str(columns)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_status_fits_80_columns_and_names_every_partner(service):
    narrow = status(service.env, 80)
    too_wide = [line for line in narrow.splitlines() if len(line) > 80]
    assert not too_wide, "\n".join(too_wide)
    for partner in service.ctx.settings.partners:
        line = next((x for x in narrow.splitlines() if x.strip().startswith(f"{partner.id}:")), None)
        assert line is not None and "circuit" in line, (partner.id, narrow)
    assert "waiting" in narrow and "problems:" in narrow

    wide = status(service.env, 200)
    assert any("┃ partner" in line and "┃ circuit" in line for line in wide.splitlines()), wide
