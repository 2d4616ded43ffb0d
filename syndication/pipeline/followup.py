"""FollowUp: the one shape in which every pipeline step says what must be queued next.

    follow = apply_or_park(ctx, event_id)   # FollowUp(outcome="applied", feeds=[...], partners=[...])
    dispatch(follow)                        # workers/: one Celery task per feed, one apply
                                            # batch for any number of events; partners are
                                            # marked ready in Redis, where delivery engines take them

Ids only. A step records its follow-up work in Redis (pending events, dirty
feeds, due deliveries, taken locks) *before* returning it, so when sending is
lost the sweeper finds the work again: returning it is the fast path, not the
only one.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FollowUp:
    outcome: str = ""  # what the step did (applied, stale, failed, dead, ran, skipped, ...)
    events: list[str] = field(default_factory=list)  # events waiting: queue one apply batch for them
    feeds: list[str] = field(default_factory=list)  # feed names to render
    partners: list[str] = field(default_factory=list)  # partners marked ready (delivery engines take them; no message)

    def __bool__(self) -> bool:
        return bool(self.events or self.feeds or self.partners)
