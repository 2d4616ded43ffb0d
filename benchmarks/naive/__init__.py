"""The naive baseline: one Celery task per event, the design the service must beat.

What a first version of this service would look like, kept honest and minimal:

    app.py    a tiny FastAPI app under uvicorn: POST /v1/events reads the body and enqueues one
              task per event (`push_event.delay(body)`), answering 202; nothing is stored
    tasks.py  the Celery app and its one task: for each partner in turn, the same ~4.5 kB JSON
              body the service pushes (delivery id, event id, type, article), signed with
              Standard Webhooks (HMAC-SHA256, the same secret), POSTed with one requests.Session
              per worker process, the same header set; it records nothing, retries nothing
    stack.py  the driver's side: starts app + worker (prefork -c 2, the same kind of throwaway
              Redis, database 1) with a partners list, and gives the processes to measure

Run by benchmarks/push.py (section "naive"); never by the service.
"""
