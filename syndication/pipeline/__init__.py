"""The event pipeline: accept an event, apply it, and sweep up work whose task was lost.

Each step takes a Context and ids, does its work in Redis, and returns a
`FollowUp` (followup.py): the tasks to queue next. Steps never send tasks
themselves; `workers/` turns follow-ups into Celery calls and the API gets
an `enqueue` callable for the same purpose, so this package imports no Celery.
"""
