"""reference/redis-keys.md: every Redis key family, from `syndication.infra.keys.FAMILIES`."""

from __future__ import annotations

from refgen.markdown import banner, code, table


def page() -> str:
    from syndication.infra import keys

    rows = [[code("<prefix>" + f.pattern), f.type, f.doc,
             ", ".join(code(x) for x in f.fields) if f.fields else ("any" if f.type == "hash" else "")]
            for f in keys.FAMILIES]
    return "\n".join([
        "# Redis keys", "", banner("redis_keys", "`FAMILIES` in `syndication/infra/keys.py`"),
        "Every key starts with the deployment's prefix (`SYNDICATION_KEY_PREFIX`, default `synd:`), so "
        "several deployments can share one Redis and `SCAN MATCH synd:*` finds everything. An id inside a "
        "key is percent-encoded (`key_part`), so no id can spell another family's suffix. An integration "
        "test walks every key written during a test run and fails on a key or hash field this table "
        "does not list.", "",
        f"Celery's queues are lists under `<prefix>celery:`: {', '.join(code(q) for q in keys.QUEUES)}.", "",
        "## Key families", "",
        table(["Key", "Type", "Contents", "Hash fields"], rows),
    ])
