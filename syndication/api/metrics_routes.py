"""GET /metrics: Prometheus text format. Counters of every process come from Redis (infra/metrics.py),
live gauges from the status snapshot (ops/gauges.py), feed requests from this process.

In the OpenAPI document (tag `ops`) because anyone can call it, as the README says (put it behind
your network); its body is for Prometheus, not for generated clients, hence just `text/plain`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from syndication.infra.metrics import RedisCollector
from syndication.ops.gauges import LiveGauges
from syndication.ops.series import known_series
from syndication.api import schema

router = APIRouter(tags=["ops"])


class ApiMetrics:
    """The API process's own registry: feed requests, plus the collectors for everything else."""

    def __init__(self, ctx):
        self.registry = CollectorRegistry()
        self.feed_requests = Counter("syndication_feed_requests", "Feed requests by HTTP status",
                                     ["status"], registry=self.registry)
        for served in ("200", "304"):  # present from the first scrape, like every other series
            self.feed_requests.labels(served)
        self.registry.register(RedisCollector(ctx, known_series))
        self.registry.register(LiveGauges(ctx))


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response,
    responses={200: {"description": "Prometheus text exposition format, `syndication_*` metrics",
                     "content": {"text/plain": {"schema": {"type": "string"}}}},
               **schema.errors(503)},
)
def metrics(request: Request):
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
