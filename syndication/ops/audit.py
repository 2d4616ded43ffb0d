"""The audit trail: every ops action (replay, discard, pause, resume, enable, backfill...) as one record.

    audit.record(ctx, "pause", target="kazinform", actor="alice")
    audit.record(ctx, "replay", target="partner kazinform", actor="cli", count=12)

Each record is logged at INFO by the `syndication.audit` logger (one JSON line, with `action`,
`target` and `actor`: the *name* of the ops key, never the key) and kept in Redis, newest first,
capped, so `/ops` can show who did what without a log pipeline. The callers are the edges that
know who acts: the CLI (actor "cli", or $USER) and the API (the ops key's name).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from syndication.infra.context import Context

log = logging.getLogger("syndication.audit")
KEEP = 1000  # records kept in Redis (the log keeps them all)


def record(ctx: Context, action: str, *, target: str, actor: str, **detail: Any) -> None:
    now = time.time()
    doc = {"at": now, "action": action, "target": target, "actor": actor, **detail}
    log.info(f"ops {action} {target} by {actor}", extra={"action": action, "target": target, "actor": actor,
                                                        "detail": detail or None})
    pipe = ctx.redis.pipeline(transaction=False)
    pipe.lpush(ctx.keys.audit, json.dumps(doc, default=str, separators=(",", ":")))
    pipe.ltrim(ctx.keys.audit, 0, KEEP - 1)
    pipe.execute()


def recent(ctx: Context, limit: int = 50) -> list[dict[str, Any]]:
    return [json.loads(r) for r in ctx.redis.lrange(ctx.keys.audit, 0, limit - 1)]
