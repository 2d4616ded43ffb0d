"""Reading the partners and feeds YAML files, with errors that name the file, entry and key."""

from __future__ import annotations

from pathlib import Path

from syndication.errors import ConfigError


def load_yaml(path: Path, top_key: str) -> list:
    """Read `path` and return the list under `top_key`, with errors naming the file."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get(top_key, []), list):
        raise ConfigError(f"{path}: expected a mapping with a '{top_key}:' list")
    return data.get(top_key) or []


def load_entries(path: Path, top_key: str, model, name_of) -> tuple:
    """Every entry under `top_key` validated as `model`; errors name the entry and key, and
    repeated names (`name_of(entry)`) are refused."""
    from pydantic import ValidationError

    entries = []
    for i, item in enumerate(load_yaml(path, top_key)):
        try:
            entries.append(model.model_validate(item))
        except ValidationError as exc:
            raise pydantic_problem(path, i, item, exc) from None
    names = [name_of(e) for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: {top_key} must have unique names, repeated: {', '.join(dupes)}")
    return tuple(entries)


def _as_written(loc: tuple, item: object) -> tuple:
    """An error's location as the file writes it: a partner's target keys are written flat
    (partners/target.py), so `target.timeouts.read` is `timeouts.read` to the person editing."""
    if loc[:1] == ("target",) and isinstance(item, dict) and "target" not in item:
        return loc[1:]
    return loc


def pydantic_problem(path: Path, index: int, item: object, exc) -> ConfigError:
    """Turn a pydantic ValidationError on list item `index` into a ConfigError naming the key."""
    name = item.get("id") or item.get("name") if isinstance(item, dict) else None
    where = f"{path}: entry {index}" + (f" ({name})" if name else "")
    msgs = [f"{'.'.join(str(p) for p in _as_written(e['loc'], item)) or '(entry)'}: {e['msg']}" for e in exc.errors()]
    return ConfigError(f"{where}: " + "; ".join(msgs))
