"""Settings: what the service is configured with, and the helpers that read configuration.

A leaf package: nothing here imports feeds, partners or anything above them.

    secret.py   Secret, a string that never shows itself in a repr or log line
    files.py    reading the YAML files, and naming the bad key when they are wrong
    model.py    Settings, one frozen, typed object built once per process

`syndication.configuration.load_settings(environ)` builds a Settings from the
environment and the YAML files; only composition roots (the CLI, workers/app.py,
tests) call it.
"""

from syndication.settings.model import DEFAULT_REDIS_URL, Settings, Source
from syndication.settings.secret import Secret

__all__ = ["DEFAULT_REDIS_URL", "Secret", "Settings", "Source"]
