"""Fault suite options and sizes: the default test run takes the short version; `make faults` the full one.

A sender thread that dies must fail its test, not leave a warning behind: every test here
turns pytest's PytestUnhandledThreadExceptionWarning into an error (the harness also hands
its own threads' errors to the test's thread; this catches any other thread).
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_addoption(parser):
    parser.addoption("--faults-full", action="store_true", default=False,
                     help="run the fault scenarios with 1,200+ events each at 30/s (make faults)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"))
            # Each scenario asserts its stream was answered at its rate around the fault: on
            # pytest-xdist it runs with no other worker loading the machine (tests/support/parallel.py).
            item.add_marker(pytest.mark.alone)


@dataclass(frozen=True)
class Size:
    """How long and how fast a scenario's stream runs around its fault.

    The fault starts after `lead` seconds of stream; the stream is planned to go on `tail`
    seconds past the fault's expected end, so the fault always hits a busy service (each
    scenario asserts events were answered both before the fault and after it ended).
    """

    full: bool
    rate: float  # events per second, both senders together
    lead: float
    tail: float
    minimum: int

    def events(self, fault_span: float) -> int:
        return max(self.minimum, math.ceil(self.rate * (self.lead + fault_span + self.tail)))


@pytest.fixture(scope="session")
def full(request) -> bool:
    return request.config.getoption("--faults-full") or os.environ.get("SYNDICATION_FAULTS_FULL") == "1"


@pytest.fixture(scope="session")
def size(full) -> Size:
    # Rates stay well below what one cluster pushes to one partner on this machine while other
    # test runs share it (about 40/s): a backlog built during a fault must drain within the
    # bounds' slack, not grow.
    if full:
        return Size(full=True, rate=30.0, lead=4.0, tail=6.0, minimum=1200)
    return Size(full=False, rate=25.0, lead=2.0, tail=4.0, minimum=0)


@pytest.fixture(scope="session")
def report_rows():
    rows = []
    yield rows
    if rows:
        print("\n\n| scenario | events answered 2xx / planned | deliveries expected | effective | raw duplicates "
              "| in flight at the fault | max recovery (bound) | what was done |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(r.row())
