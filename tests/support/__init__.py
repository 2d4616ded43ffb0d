"""Test support: real processes (API, Celery workers, beat) and partner receivers on 127.0.0.1."""
