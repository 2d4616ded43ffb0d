"""Every error the domain core raises, in one tree.

    SyndicationError
     +-- ConfigError          settings, partners or feeds file is wrong (names the key)
     +-- InvalidEvent         an event failed validation (carries per-field problems)
     +-- NotFound             an id names nothing we have (404, whichever kind of thing it is)
     |    +-- UnknownArticle  no state stored for an article id
     |    +-- UnknownDelivery no delivery record for a delivery id
     |    +-- UnknownPartner  no partner with this id in the partners file
     |    +-- UnknownFeed     no feed (or format) by this name in the feeds file
     |    +-- UnknownSitemap  no news sitemap configured there, or no such page of one
     +-- PartnerDisabled      the partner cannot take pushes (enabled: false, or pull only)
     +-- AddressRefused       a partner URL resolves to a private address it may not use
     +-- QueueUnavailable     an accepted event could not be handed to the queue (broker down)
     +-- NotReplicated        a stored event was not confirmed by enough Redis replicas in time

Callers catch `SyndicationError`; the API maps each class to one status and
error name in one table (api/app.py DOMAIN_ERRORS): bad input is a 4xx, an
unknown id a 404, a server-side error (ConfigError) a 500 whose body only
says to look at the log.
"""

from __future__ import annotations


class SyndicationError(Exception):
    """Base of every error the core raises on purpose."""


class ConfigError(SyndicationError):
    """A setting, partner or feed definition is invalid; the message names it."""


class InvalidEvent(SyndicationError):
    """An event failed validation. `problems` is a list of {field, message}."""

    def __init__(self, problems: list[dict[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))


class NotFound(SyndicationError):
    """An id names nothing we have; the message says which id, and where the valid ones are listed."""


class UnknownArticle(NotFound):
    """No article state is stored under this id."""


class UnknownDelivery(NotFound):
    """No delivery record is stored under this id."""


class UnknownPartner(NotFound):
    """No partner with this id in the partners file (the WebSub hub and ops webhook are not partners)."""


class UnknownFeed(NotFound):
    """No feed by this name in the feeds file, or not in this format."""


class UnknownSitemap(NotFound):
    """No feed with a `news_sitemap` by this name, or no such page of the sitemap."""


class PartnerDisabled(SyndicationError):
    """The partner takes no pushes (`enabled: false`, or it only pulls): deliveries made for it now
    would be cancelled at once."""


class AddressRefused(SyndicationError):
    """A partner URL resolves to a loopback/private/link-local address it may not use."""


class QueueUnavailable(SyndicationError):
    """The event is stored but its task could not be queued: the client retries (same event_id)."""


class NotReplicated(SyndicationError):
    """The event is stored on the primary, but fewer replicas than SYNDICATION_REDIS_MIN_REPLICAS
    confirmed it within the timeout: it might not survive a failover, so it is not acknowledged."""
