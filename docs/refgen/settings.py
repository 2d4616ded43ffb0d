"""reference/settings.md: every Settings field and every SYNDICATION_* variable, read from the code.

Three sources, so the page cannot drift from what the service reads:
- the fields: `dataclasses.fields(Settings)`, each described by the comment above it in
  settings/model.py (or, for the few without one, by FIELD_NOTES below);
- which variable sets which field, and in what form: the `Settings(...)` call in
  `configuration.load_settings`, read with `ast` (a field's value expression, followed through
  local names and the module's `_helpers`, names the variables it reads);
- every other variable: each `SYNDICATION_*` name in syndication/ and workers/ (ENV_NOTES says
  what the ones that set no field do). tests/unit/test_docs_reference.py fails on a field or
  variable with no description.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

from refgen.markdown import banner, code, table

ROOT = Path(__file__).resolve().parents[2]
ENV_NAME = re.compile(r"\bSYNDICATION_[A-Z0-9_]+\b")
# What each parsing helper of configuration.py accepts, as a reader writes the variable.
FORMATS = {
    "_duration": "seconds, or a duration: 90s, 15m, 2h, 30d",
    "_count": "a whole number of at least 1",
    "_number": "a number (seconds)",
    "_keys": "comma-separated keys",
    "_named_keys": "comma-separated `name:key` (or plain keys, named \"ops key N\")",
    "_sentinels": "comma-separated `host:port` (port default 26379)",
    "_replicas": "a whole number (0: do not wait)",
    "_path": "a file path",
    "_flag": "true or false",
    "_hub": "a hub URL, or `off`; unset: our own hub, `{SYNDICATION_BASE_URL}/websub`",
}
# Fields with no comment in settings/model.py (a comment there is the better home: it wins).
FIELD_NOTES = {
    "redis_url": "The Redis the service keeps its state and Celery's queues in; with Sentinel, only its "
                 "db number and password are used.",
    "key_prefix": "Every Redis key starts with it, so several deployments can share one Redis "
                  "([Redis keys](redis-keys.md)).",
    "api_keys": "Publisher keys: a `POST /v1/events` must carry one as `Authorization: Bearer`.",
    "ops_keys": "Ops keys: the /ops page, delivery repair routes and ops actions; `name:key` names the key "
                "in the audit log.",
    "feed_keys": "Keys partners send to read `access: partner` feeds.",
    "partners_file": "The partners YAML file: who gets pushes, in which format, signed how.",
    "feeds_file": "The feeds YAML file: which feeds exist and what each carries.",
    "base_url": "The public URL of the API: feed self links, WebSub topics and sitemap URLs start with it.",
    "partners": "The partners read from the partners file.",
    "feeds": "The feeds read from the feeds file.",
    "redis_replica_timeout": "How long accepting an event waits for `redis_min_replicas` replicas before 503.",
    "pull_max_waits": "Pull long polls open at once per API process in all; 429 past it.",
    "redis_master": "The Sentinel service name of the primary to follow.",
    "worker_threads": "Threads of Celery's pool in every worker process.",
    "partner_secrets": "Each partner's (and the ops webhook's) secrets, resolved from the variables their "
                       "`secret_env` names when the settings were loaded: a missing one fails at start.",
}
# Variables that set no Settings field: read where the table's "read in" column says.
ENV_NOTES = {
    "SYNDICATION_OPS_WEBHOOK_SECRET": "Signs ops webhook posts (Standard Webhooks); unsigned without it.",
    "SYNDICATION_LOG_LEVEL": "The default of `--log-level` for `syndication up` and `api`.",
    "SYNDICATION_API_URL": "The API `syndication publish` posts to (default http://127.0.0.1:8000).",
    "SYNDICATION_API_KEY": "The publisher key `syndication publish` sends (default: the first of "
                           "SYNDICATION_API_KEYS, else the local development key).",
    "SYNDICATION_DATA_DIR": "Where `syndication up` keeps its local files (the Redis it starts, the demo "
                            "partner's files); default `.data`.",
    "SYNDICATION_DEMO_SECRET": "The demo partner's signing secret, set by `syndication up` when no partners "
                               "file is given.",
}


def field_comments() -> dict[str, str]:
    """Settings field -> the comment lines right above it in settings/model.py."""
    from syndication.settings import model

    lines = Path(model.__file__).read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(lines))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    found = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            above, i = [], stmt.lineno - 2
            while i >= 0 and lines[i].strip().startswith("#"):
                above.insert(0, lines[i].strip().lstrip("#").strip())
                i -= 1
            if above:
                found[stmt.target.id] = " ".join(above)
    return found


def field_variables() -> dict[str, list[tuple[str, str]]]:
    """Settings field -> [(variable, form)] it is read from, from `load_settings`'s Settings(...) call.

    A variable a field reaches only through another field's inputs (the ops webhook's URL, via
    the secrets resolved for it) is listed under the field that reads it most directly."""
    from syndication import configuration

    tree = ast.parse(Path(configuration.__file__).read_text(encoding="utf-8"))
    helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    load = helpers["load_settings"]
    local: dict[str, list[ast.AST]] = {}
    for stmt in ast.walk(load):
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                pairs = zip(target.elts, stmt.value.elts) \
                    if isinstance(target, ast.Tuple) and isinstance(stmt.value, ast.Tuple) else [(target, stmt.value)]
                for names_node, value in pairs:
                    for name in ast.walk(names_node):
                        if isinstance(name, ast.Name):
                            local.setdefault(name.id, []).append(value)

    def names(node: ast.AST, fmt: str, seen: frozenset) -> list[tuple[str, str, int]]:
        out = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.fullmatch(node.value):
            return [(node.value, fmt, len(seen))]
        if isinstance(node, ast.Name) and node.id in local and node.id not in seen:
            for value in local[node.id]:
                out += names(value, fmt, seen | {node.id})
            return out
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers \
                and node.func.id not in seen:
            inner = FORMATS.get(node.func.id, fmt)
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                out += names(arg, inner, seen)
            return out + names(helpers[node.func.id], inner, seen | {node.func.id})
        for child in ast.iter_child_nodes(node):
            out += names(child, fmt, seen)
        return out

    call = next(n for n in ast.walk(load) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Settings")
    found = {kw.arg: names(kw.value, "", frozenset()) for kw in call.keywords}
    nearest = {}
    for field, hits in found.items():
        for var, _, depth in hits:
            nearest[var] = min(nearest.get(var, (depth, field)), (depth, field), key=lambda d: d[0])
    result = {}
    for field, hits in found.items():
        forms: dict[str, str] = {}
        for var, fmt, _ in hits:
            forms[var] = forms.get(var) or fmt
        result[field] = [(var, form or _plain_form(var), nearest[var][1] == field) for var, form in forms.items()]
    return result


def unset_defaults() -> dict[str, str]:
    """Variable -> what `load_settings` uses when it is unset, as written there: the default argument
    of a parsing helper (`_count(env, NAME, 50)`), of `env.get(NAME, default)`, or `env.get(NAME) or X`."""
    from syndication import configuration

    tree = ast.parse(Path(configuration.__file__).read_text(encoding="utf-8"))
    found = {}

    def named(node: ast.AST) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) \
            and ENV_NAME.fullmatch(node.value) else None

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and len(node.args) >= 3 and named(node.args[1]):
            found[named(node.args[1])] = ast.unparse(node.args[2])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get" and node.args \
                and named(node.args[0]) and len(node.args) == 2:
            found[named(node.args[0])] = ast.unparse(node.args[1])
        elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and isinstance(node.values[0], ast.Call) \
                and getattr(node.values[0].func, "attr", "") == "get" and node.values[0].args \
                and named(node.values[0].args[0]):
            found.setdefault(named(node.values[0].args[0]), ast.unparse(node.values[1]))
    # A bare constant is shown with its value: DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/0'.
    return {var: f"{text} = {getattr(configuration, text)!r}" if text.isidentifier() and hasattr(configuration, text)
            else text for var, text in found.items()}


def _plain_form(var: str) -> str:
    return "a URL" if var.endswith(("_URL", "_HUB")) else "text"


def variables_in_code() -> dict[str, list[str]]:
    """Every SYNDICATION_* name in syndication/ and workers/ -> the modules that name it."""
    found: dict[str, list[str]] = {}
    for package in ("syndication", "workers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in sorted(set(ENV_NAME.findall(path.read_text(encoding="utf-8")))):
                found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def describe(field: dataclasses.Field, comments: dict[str, str]) -> str:
    return comments.get(field.name) or FIELD_NOTES.get(field.name, "")


def _default(field: dataclasses.Field) -> object:
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else None


def page() -> str:
    from syndication.settings import Settings
    from syndication.settings.model import RETIRED

    comments, by_field, in_code = field_comments(), field_variables(), variables_in_code()
    unset = unset_defaults()
    fields = dataclasses.fields(Settings)
    env_rows, described = [], set()
    for f in fields:
        for var, fmt, nearest in by_field.get(f.name, []):
            if nearest and var not in described:
                described.add(var)
                env_rows.append([code(var), fmt, code(unset[var]) if var in unset else "", code(f.name),
                                 ENV_NOTES.get(var) or describe(f, comments),
                                 ", ".join(code(m) for m in in_code.get(var, []))])
    for var, modules in sorted(in_code.items()):
        if var not in described:
            note = f"Retired, ignored with a warning: {RETIRED[var]}." if var in RETIRED else ENV_NOTES.get(var, "")
            env_rows.append([code(var), "", "", "", note, ", ".join(code(m) for m in modules)])
    field_rows = [[code(f.name), code(f.type), code(_default(f)) if _default(f) not in ((), {}, None) else "",
                   ", ".join(code(v) for v, _, _ in by_field.get(f.name, [])), describe(f, comments)]
                  for f in fields if f.name != "source"]
    return "\n".join([
        "# Settings and environment variables", "",
        banner("settings", "`Settings` in `syndication/settings/model.py` and `load_settings` in "
                           "`syndication/configuration.py`"),
        "Every process builds one frozen `Settings` at start from its environment and the YAML files the "
        "environment names (`configuration.load_settings`); a bad value stops it with a line naming the "
        "variable. `syndication config check` checks the same things without starting anything. A "
        "partners-file reload (`syndication partners reload`, or SIGHUP) builds a new snapshot from the same "
        "environment. Partners' own secrets are variables too, named by `secret_env` in the partners file.", "",
        "## Environment variables", "",
        "*When unset* is the default as `configuration.py` writes it (`DAY` is 86400 seconds; constants "
        "are in `settings/model.py`).", "",
        table(["Variable", "Form", "When unset", "Sets", "What it does", "Read in"], env_rows),
        "## Settings fields", "",
        "What the code sees (`settings.<field>`), including what is derived from the files.", "",
        table(["Field", "Type", "Default", "From", "What it is"], field_rows),
    ])
