"""The naive baseline's HTTP app: POST /v1/events enqueues one task per event and answers 202.

Run as `uvicorn benchmarks.naive.app:app` (stack.py does, with the service's uvicorn settings
that matter here: one process, no access log).
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from benchmarks.naive.tasks import push_event

app = FastAPI()


@app.post("/v1/events", status_code=202)
async def events(request: Request) -> Response:
    body = await request.body()
    push_event.delay(body.decode())
    return Response(status_code=202)


@app.get("/healthz")
async def healthz() -> dict:
    return {"ok": True}
