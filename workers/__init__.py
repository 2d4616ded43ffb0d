"""Celery wiring for syndication: `celery -A workers worker -Q events|feeds|deliveries`.

This package only connects Celery to the domain core in `syndication/`:
the app and its reliability settings (app.py), one thin task per unit of
work (tasks.py), and the beat schedule (beat.py).
"""

from workers.app import app

__all__ = ["app"]
