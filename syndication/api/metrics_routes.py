"""GET /metrics: Prometheus text format. Worker-side values come from Redis (see syndication/metrics.py).

In the OpenAPI document (tag `ops`) because anyone can call it, as the README says (put it behind
your network); its body is for Prometheus, not for generated clients, hence just `text/plain`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from syndication.ops import status
from syndication.infra.metrics import RedisCollector
from syndication.api import schema

router = APIRouter(tags=["ops"])


class ApiMetrics:
    """The API process's own registry: feed requests, plus the Redis collector for everything else."""

    def __init__(self, ctx):
        self.registry = CollectorRegistry()
        self.feed_requests = Counter("syndication_feed_requests", "Feed requests by HTTP status",
                                     ["status"], registry=self.registry)
        self.registry.register(RedisCollector(ctx, gauges=status.status))


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response,
    responses={200: {"description": "Prometheus text exposition format, `syndication_*` metrics",
                     "content": {"text/plain": {"schema": {"type": "string"}}}},
               **schema.errors(503)},
)
def metrics(request: Request):
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
