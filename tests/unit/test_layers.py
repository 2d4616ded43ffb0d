"""The house rules of the layout, checked by reading the source (no imports run).

- No import cycles in `syndication/`, between modules or between packages,
  counting imports inside functions too (a deferred import is still a dependency);
  only `if TYPE_CHECKING:` imports are left out, since they never run.
- The core never imports Celery (`workers/` is the only Celery shell; `cli/`, the
  composition root, is the one place that wires it in).
- The module map (docs/explanation/architecture.md, "Where things are") names every package and
  only things that exist.
- The layer rules (FORBIDDEN, INFRA_MAY_IMPORT): delivery never imports feeds, the engine
  (pipeline/) never imports ops, push formats never import the feed renderer, infra imports
  nothing above itself but the settings and the error tree.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "syndication"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every syndication module `name` imports, anywhere in its body (functions included)."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # `if TYPE_CHECKING:` imports never run: they give a type a name, they are not a dependency.
    type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and getattr(block.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                prefix = ".".join(anchor + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from pkg import mod` depends on mod (and on pkg only for names that are not modules).
            targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix for a in node.names]
        for target in targets:
            # `from . import x` names a module when x is one; otherwise the importing module's package.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def package_of(module: str) -> str:
    """The unit a module belongs to: its top package (`syndication.feeds.render` -> `syndication.feeds`),
    or itself for a top-level module (`syndication.events`: each domain module is its own unit)."""
    return ".".join(module.split(".")[:2])



def test_no_cycles_between_modules():
    found = cycles(graph())
    assert not found, "import cycles (deferred imports count): " + "; ".join(" <-> ".join(c) for c in found)



def test_no_cycles_between_packages():
    edges: dict[str, set[str]] = defaultdict(set)
    for src, targets in graph().items():
        for dst in targets:
            a, b = package_of(src), package_of(dst)
            if a != b:
                edges[a].add(b)
    found = cycles(edges)
    assert not found, "package cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_core_never_imports_celery():
    for name, path in modules().items():
        if name.startswith("syndication.cli"):
            continue  # the composition root: it wires Celery in (inside functions), nothing else may
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            assert not any(n == "celery" or n.startswith(("celery.", "workers")) for n in names), name


def test_cycle_finder_can_fail():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def module_map() -> str:
    text = (ROOT / "docs" / "explanation" / "architecture.md").read_text(encoding="utf-8")
    start = text.index("## Where things are")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]



def test_the_module_map_names_every_package_and_nothing_else():
    section = module_map()
    named = set(re.findall(r"`((?:syndication|workers)(?:/[A-Za-z0-9_.]+)*)/?`", section))
    packages = {str(p.parent.relative_to(ROOT)) for p in PACKAGE.rglob("__init__.py")} - {"syndication"}
    packages.add("workers")
    missing = sorted(packages - named)
    assert not missing, f"packages missing from the module map in docs/explanation/architecture.md: {missing}"
    for entry in named:
        assert (ROOT / entry).exists(), f"the module map names {entry}, which does not exist"


# -- the layer rules (DESIGN.md "Layout"): who may never import whom --------------------------
# (importer prefix, imported prefixes it must never reach, why). A prefix matches a module and
# everything below it.
FORBIDDEN = [
    ("syndication.delivery", ("syndication.feeds",),
     "delivery sends what it is given; feeds are a layer of their own (pass the URL, move the helper down)"),
    ("syndication.pipeline", ("syndication.ops",),
     "the engine never imports ops: ops watches the engine, not the other way round"),
    ("syndication.partners.formats", ("syndication.feeds.render",),
     "a push format never imports the feed renderer (both use feeds/entries.py, one article as an item)"),
]
# infra is the bottom: it may import only itself, the settings (a leaf) and the error tree.
INFRA_MAY_IMPORT = ("syndication.infra", "syndication.settings", "syndication.errors")
# Breaks being removed by another change right now (issue 24): each must go, and the test says when.
KNOWN_BREAKS: set[str] = set()


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def broken_rules(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for src, targets in sorted(edges.items()):
        for dst in sorted(targets):
            for importer, banned, why in FORBIDDEN:
                if under(src, importer) and any(under(dst, b) for b in banned):
                    found.append(f"{src} imports {dst}: {why}")
            if under(src, "syndication.infra") and not any(under(dst, p) for p in INFRA_MAY_IMPORT):
                found.append(f"{src} imports {dst}: infra never imports the domain above it")
    return found


def test_layer_rules_hold():
    found = broken_rules(graph())
    new = [f for f in found if f.split(":")[0] not in KNOWN_BREAKS]
    assert not new, "layer rules broken:\n" + "\n".join(new)
    gone = KNOWN_BREAKS - {f.split(":")[0] for f in found}
    assert not gone, f"fixed, so take them out of KNOWN_BREAKS: {sorted(gone)}"


def test_layer_rules_can_fail():
    assert broken_rules({"syndication.delivery.websub": {"syndication.feeds.render"},
                         "syndication.pipeline.x": {"syndication.ops.reload"},
                         "syndication.partners.formats.rss": {"syndication.feeds.render"},
                         "syndication.infra.context": {"syndication.articles"},
                         "syndication.infra.metrics": {"syndication.settings", "syndication.infra.keys"}}) == [
        "syndication.delivery.websub imports syndication.feeds.render: " + FORBIDDEN[0][2],
        "syndication.infra.context imports syndication.articles: infra never imports the domain above it",
        "syndication.partners.formats.rss imports syndication.feeds.render: " + FORBIDDEN[2][2],
        "syndication.pipeline.x imports syndication.ops.reload: " + FORBIDDEN[1][2],
    ]
