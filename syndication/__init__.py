"""syndication: event-driven news syndication.

Article events come in over HTTP; the service keeps each article's newest
version, renders RSS 2.0 / Atom 1.0 / JSON Feed feeds and pushes signed
copies to partners. This package is the domain core: it imports neither
Celery nor FastAPI at import time, so it can be used (and tested) alone.
"""

__version__ = "0.1.0"
USER_AGENT = f"syndication/{__version__} (+https://github.com/syndication/syndication)"
