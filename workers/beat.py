"""Periodic work run by `celery -A workers beat`: the sweeper, once a second.

Beat only sends `syndication.sweep`; the sweep itself runs on a worker and
holds a short lock, so two beats started by mistake do not double the work.
"""

from __future__ import annotations

from syndication.pipeline import sweeper
from workers.app import app, context
from workers.tasks import dispatch


@app.task(name="syndication.sweep", ignore_result=True)
def sweep() -> dict:
    found = sweeper.sweep(context())
    dispatch(found)
    return {"events": len(found.events), "feeds": len(found.feeds), "partners": len(found.partners)}
