"""Structured logs: one JSON object per line, with the ids ops search by.

    log.info("delivery attempt", extra={"delivery_id": ..., "partner": ..., "outcome": ...})

prints

    {"ts": "2026-11-25T13:00:00.123Z", "level": "info", "logger": "syndication.delivery",
     "msg": "delivery attempt", "delivery_id": "msg_...", "partner": "kazinform", "outcome": "retry"}

Only the whitelisted context fields are copied from `extra`, so a stray
argument can never put a secret or an article body into the logs.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

FIELDS = ("event_id", "article_id", "version", "delivery_id", "partner", "attempt", "outcome", "status",
          "feed", "latency_ms", "task", "action", "target", "actor", "detail", "error_detail", "queue", "worker",
          "state", "notice")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in FIELDS:
            if key in record.__dict__:
                doc[key] = record.__dict__[key]
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def configure(level: str | int = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
