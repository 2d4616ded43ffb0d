"""argparse `type=` readers for numeric options, strict as syndication/inputs.py reads them.

argparse's `type=int` and `type=float` are Python's `int()` and `float()`: they take '١٢',
' 12', '1_000', 'nan' and 'inf', and a `--limit 0` or `-1` reaches Redis as a range index
(`ZREVRANGE 0 -1`: everything). These readers take ASCII digits within bounds and, on
anything else, print one line naming the option and exit 2 (argparse's own error would add
a usage line; every other bad option of this CLI is one line):

    s.add_argument("--limit", type=options.count("--limit", 1, 100_000), default=100)
"""

from __future__ import annotations

import sys
from typing import Callable

from syndication import inputs


def _refuse(option: str, exc: inputs.BadInput):
    print(f"{option} {exc}", file=sys.stderr)
    raise SystemExit(2)  # argparse lets SystemExit through its type= call


def count(option: str, low: int, high: int) -> Callable[[str], int]:
    def read(text: str) -> int:
        try:
            return inputs.count(text, low=low, high=high)
        except inputs.BadInput as exc:
            _refuse(option, exc)
    return read


def seconds(option: str, low: float, high: float) -> Callable[[str], float]:
    def read(text: str) -> float:
        try:
            return inputs.seconds(text, low=low, high=high)
        except inputs.BadInput as exc:
            _refuse(option, exc)
    return read
