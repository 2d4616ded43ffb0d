"""The naive design's HTTP app: POST /v1/events enqueues one task per partner (naive_tasks.push_one), then 202.

Run as `uvicorn benchmarks.wanbench.naive_app:app`; partners from NAIVE_PARTNERS (push URLs,
comma-separated).
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request, Response

from benchmarks.wanbench.naive_tasks import push_one

app = FastAPI()
PARTNERS = [u for u in os.environ.get("NAIVE_PARTNERS", "").split(",") if u]


@app.post("/v1/events", status_code=202)
async def events(request: Request) -> Response:
    body = (await request.body()).decode()
    for url in PARTNERS:
        push_one.delay(url, body)
    return Response(status_code=202)


@app.get("/healthz")
async def healthz() -> dict:
    return {"ok": True}
