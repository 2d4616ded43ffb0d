"""How long to wait before the next attempt: exponential backoff with full jitter.

    delay = uniform(0, min(cap, base * 2 ** (attempt - 1)))

Full jitter spreads a crowd of retries (a partner that was down for everyone)
instead of having them return in lockstep. A partner's `Retry-After` wins
when it asks for longer, bounded by `max_retry_after` so a typo on their side
cannot park our deliveries for a year.
"""

from __future__ import annotations

import random
from datetime import timezone
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from `now` that a Retry-After header asks for (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def compute_backoff(
    *, attempt: int, base: float = 2.0, cap: float = 600.0,
    retry_after: float | None = None, max_retry_after: float = 3600.0,
    rng: random.Random | None = None,
) -> float:
    """Delay in seconds before attempt number `attempt + 1` (`attempt` counts from 1)."""
    rng = rng or random
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = rng.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max_retry_after))
    return delay
