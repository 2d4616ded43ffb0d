"""The sample NewsML-G2 pushes in examples/newsml-g2/ are what the code makes today, and valid.

So the example cannot rot: a change to the format that forgets to re-run
`examples/newsml-g2/make.py` fails here.
"""

from __future__ import annotations

import runpy
from pathlib import Path

from lxml import etree

from tests.unit.test_newsml_g2 import SCHEMA

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "newsml-g2"


def test_the_committed_examples_are_what_the_code_makes():
    made = runpy.run_path(str(EXAMPLES / "make.py"))["pushes"]()
    assert sorted(made) == sorted(p.name for p in EXAMPLES.glob("*.xml")) and len(made) == 3
    for name, body in made.items():
        assert (EXAMPLES / name).read_bytes() == body, f"{name} is stale: run examples/newsml-g2/make.py"
        SCHEMA.assertValid(etree.fromstring(body))
    statuses = [etree.fromstring(made[n]).xpath("string(//*[local-name()='pubStatus']/@qcode)") for n in sorted(made)]
    assert statuses == ["stat:usable", "stat:usable", "stat:canceled"]
