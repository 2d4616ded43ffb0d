"""Fault suite options: the default test run takes the short version; `make faults` the full one."""

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--faults-full", action="store_true", default=False,
                     help="run the fault scenarios with 1,000+ events each (make faults)")


@pytest.fixture(scope="session")
def full(request) -> bool:
    return request.config.getoption("--faults-full") or os.environ.get("SYNDICATION_FAULTS_FULL") == "1"


@pytest.fixture(scope="session")
def n_events(full) -> int:
    return 1200 if full else 150


@pytest.fixture(scope="session")
def report_rows():
    rows = []
    yield rows
    if rows:
        print("\n\n| scenario | events | deliveries expected | effective | raw duplicates | max recovery | notes |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(r.row())
