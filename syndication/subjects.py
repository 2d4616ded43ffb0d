"""IPTC Media Topics: the subject vocabulary, and "this topic or any topic below it".

Articles carry subjects as IPTC Media Topic qcodes (`medtop:` and eight digits,
`article.subjects` in events.py); feed and partner filters may name a topic and
then take every article tagged with it or with any narrower topic
(`subjects: [medtop:11000000]` takes "politics" and "election" below it).

The hierarchy is the IPTC's (http://cv.iptc.org/newscodes/mediatopic/, published
as JSON-LD under CC BY 4.0), vendored in `mediatopic.tsv` beside this module with
its attribution: nothing is fetched at run time. Each line is
`qcode<TAB>broader qcode(s)<TAB>English name`.

    lineage("medtop:20000587")     # ('medtop:20000587', 'medtop:11000000')
    covers({"medtop:11000000"}, ["medtop:20000587"])   # True
    name_of("medtop:11000000")     # 'politics'

A qcode the vocabulary does not know (a topic newer than the vendored release)
is accepted in events and matches a filter naming that very qcode; a filter
naming an unknown qcode is a configuration error (`unknown_in`), since it could
never match anything below it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable

SCHEME = "medtop"
SCHEME_URI = "http://cv.iptc.org/newscodes/mediatopic/"
QCODE_PATTERN = r"^medtop:[0-9]{8}$"
VOCABULARY_FILE = Path(__file__).with_name("mediatopic.tsv")


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """(qcode -> broader qcodes, qcode -> English name), read once from the vendored file."""
    broader: dict[str, tuple[str, ...]] = {}
    names: dict[str, str] = {}
    for line in VOCABULARY_FILE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        qcode, parents, name = line.split("\t")
        broader[qcode] = tuple(p for p in parents.split(",") if p)
        if name:  # a topic placed in the tree whose name was not vendored
            names[qcode] = name
    return broader, names


def known(qcode: str) -> bool:
    return qcode in _vocabulary()[0]


def name_of(qcode: str) -> str | None:
    """The topic's English name in the IPTC vocabulary; None for a qcode it does not know."""
    return _vocabulary()[1].get(qcode)


def code(qcode: str) -> str:
    """The code within the scheme (`11000000`): the Atom `term` and RSS `category` beside SCHEME_URI."""
    return qcode.split(":", 1)[1]


def uri(qcode: str) -> str:
    """The topic as a full URI (what ninjs `subjects[].uri` and RDF tools expect): scheme + code."""
    return SCHEME_URI + code(qcode)


def top_level() -> list[str]:
    broader, _ = _vocabulary()
    return sorted(q for q, parents in broader.items() if not parents)


@lru_cache(maxsize=4096)
def lineage(qcode: str) -> tuple[str, ...]:
    """The topic, then every broader topic up to the top level (the topic alone if unknown)."""
    broader, _ = _vocabulary()
    seen: list[str] = []
    todo = [qcode]
    while todo:  # a list, not recursion: the file is data and must not be able to loop us
        current = todo.pop(0)
        if current in seen:
            continue
        seen.append(current)
        todo.extend(broader.get(current, ()))
    return tuple(seen)


def covers(wanted: Iterable[str], tagged: Iterable[str]) -> bool:
    """True when any tagged topic is one of `wanted` or lies below one of them."""
    wanted = set(wanted)
    return any(wanted.intersection(lineage(q)) for q in tagged)


def unknown_in(qcodes: Iterable[str]) -> list[str]:
    """The qcodes the vendored vocabulary does not know, in the order given."""
    return [q for q in qcodes if not known(q)]
