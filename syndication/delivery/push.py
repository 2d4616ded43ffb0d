"""Pushing a batch of one partner's due deliveries: claim -> load -> send -> record.

A push batch (a pusher of the delivery engine runs it, engine.py) works for one partner, on its
keep-alive session (http.py: pooled per partner per process):

1. in one round trip (`begin`): check the partner may be sent to (enabled, not
   paused, circuit), take one of its `max_in_flight` slots and claim its share of
   the due ids (up to `batch_size`) under a lease (schedule.py: `claim`), leaving the rest
   to batches that run at the same time;
2. load everything the batch needs in two round trips: the delivery records,
   then the article states and the versions the partner already acknowledged;
3. for each delivery: skip it as *superseded* when the article moved past
   its version or the partner acknowledged a newer one (a pending retry of v1
   never lands after v2); otherwise prepare it (its kind's preparer renders
   and signs: an article in the partner's format, or a WebSub hub ping), send
   one POST with explicit timeouts, and `decide` what follows (decide.py);
4. record outcomes per *group* in one Redis transaction (outcome_group.py). A
   group closes after GROUP_SIZE deliveries or GROUP_SECONDS, and at once on
   anything but a delivery, so a failing partner is seen (circuit, pause) one
   delivery at a time.

Leases are renewed on a timer while the batch runs (leases.py), so they
outlive any request in flight however slow the partner; if the worker dies,
renewals stop and the sweeper hands the deliveries back. An outcome is
recorded after its request, never before: a crash between the two re-sends
the delivery (at-least-once; the partner dedupes on `webhook-id`).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

from syndication import tracecontext, tracing
from syndication.articles import ArticleState, ArticleStore
from syndication.delivery import circuit, http, hub, leases, notices, outcome_group, targets, websub
from syndication.delivery.schedule import Claim, DueSchedule
from syndication.delivery.schedule import claim as begin  # noqa: F401 (begin: part of this module's interface)
from syndication.delivery.decide import decide
from syndication.delivery.lifecycle import DeliveryStatus
from syndication.delivery.model import ARTICLE, HUB_CONTENT, HUB_KINDS, HUB_VERIFY, Delivery
from syndication.infra.context import Context
from syndication.partners.formats import PUSH_FORMATS, Push
from syndication.partners.signing import auth_headers
from syndication.tracecontext import TraceContext

log = logging.getLogger("syndication.delivery")
BATCH_TIME_BUDGET = 20.0  # seconds; then the rest goes back to due for the next task

@dataclass
class BatchResult:
    partner: str
    outcomes: dict[str, int] = field(default_factory=dict)
    more_due: bool = False

    def count(self, what: str) -> None:
        self.outcomes[what] = self.outcomes.get(what, 0) + 1


@dataclass
class Loaded:
    """What a batch read before sending: records, article states, acknowledged versions, and for our
    hub's subscribers their subscription and the feeds they are sent (hub.Reads)."""

    deliveries: dict[str, Delivery]
    articles: dict[str, ArticleState | None]
    acked: dict[str, int]
    hub: dict = field(default_factory=dict)


def load(ctx: Context, partner_id: str, ids: list[str]) -> Loaded:
    return load_many(ctx, [(partner_id, ids)])[0]


def load_many(ctx: Context, batches: list[tuple[str, list[str]]]) -> list[Loaded]:
    """What each (partner id, claimed ids) batch needs, for many partners in two round trips: the
    records, then each partner's acknowledged versions and the article states (each article read
    once for the whole wave: a breaking story to 500 partners is one article)."""
    pipe = ctx.redis.pipeline(transaction=False)
    for _, ids in batches:
        for did in ids:
            pipe.hgetall(ctx.keys.delivery(did))
    hashes = iter(pipe.execute())
    found = [{did: Delivery.from_hash(h) for did, h in zip(ids, hashes) if h} for _, ids in batches]
    subjects = [sorted({d.subject.id for d in f.values() if d.subject.kind == ARTICLE}) for f in found]
    articles = sorted({a for s in subjects for a in s})
    reads = hub.Reads([(pid, f) for (pid, _), f in zip(batches, found)])
    if not articles and not reads:
        return [Loaded(f, {}, {}) for f in found]
    pipe = ctx.redis.pipeline(transaction=False)
    for (pid, _), subj in zip(batches, subjects):
        if subj:
            pipe.hmget(ctx.keys.partner_acked(pid), subj)
    for a in articles:
        pipe.hgetall(ctx.keys.article(a))
    reads.queue(pipe, ctx.keys)
    replies = pipe.execute()
    n_acked = sum(1 for s in subjects if s)
    states = {a: ArticleStore.of(ctx).state_from(a, h) for a, h in zip(articles, replies[n_acked:])}
    hub_data = reads.read(replies[n_acked + len(articles):]) if reads else {}
    acked = iter(replies[:n_acked])
    out = []
    for f, subj in zip(found, subjects):
        versions = next(acked) if subj else []
        out.append(Loaded(f, {a: states[a] for a in subj}, {a: int(v or 0) for a, v in zip(subj, versions)}, hub_data))
    return out


def superseded(d: Delivery, loaded: Loaded) -> DeliveryStatus | None:
    """Why this delivery must not be sent any more, or None if it should be."""
    if d.subject.kind in HUB_KINDS:
        return hub.superseded(d, loaded.hub)
    if d.subject.kind != ARTICLE:
        return None  # a hub ping is always worth sending (the hub fetches the latest bytes), a notice too
    if d.event_type == "article.withdrawn":
        # Always sent: a partner that never got a version learns nothing it can misuse, while
        # skipping risks a partner keeping an article whose push was on the wire (at-least-once).
        return None
    if loaded.acked.get(d.subject.id, 0) > d.subject.version:  # equal: this very delivery, replayed on purpose
        return DeliveryStatus.SUPERSEDED
    state = loaded.articles.get(d.subject.id)
    if state is not None and state.version > d.subject.version:
        return DeliveryStatus.CANCELLED if state.withdrawn else DeliveryStatus.SUPERSEDED
    return None


def released_to(partner, state: ArticleState | None, feed_specs) -> dict | None:
    """What a partner may be shown of the article in a withdrawal: the version it was entitled to.

    A `send` partner was sent a held version at once when its filters wanted it, so the current
    data is its own; everyone else gets what was released to all (`released_data`, None for a
    story never released: the tombstone then carries identity and reason only)."""
    if state is None:
        return None
    if partner.embargo == "send" and state.data is not None and partner.filters.wants(state.data, feed_specs):
        return state.data
    return state.released_data


def build_push(d: Delivery, state: ArticleState | None, article: dict | None) -> Push:
    """`article`: the data to render: the delivery's own version, or for a withdrawal `released_to`."""
    return Push(
        delivery_id=d.id, event_id=d.event_id, event_type=d.event_type, article_id=d.subject.id,
        version=d.subject.version, article=article,
        withdrawn=d.event_type == "article.withdrawn", reason=state.reason if state else "",
        occurred_at=d.occurred_at or None,
    )


def _prepare_article(ctx: Context, target, d: Delivery, loaded: Loaded, now: float) -> tuple[bytes, dict]:
    partner = ctx.settings.partner(target.id)  # what it wants and in which format; `target`: where it goes
    fmt = PUSH_FORMATS[partner.format]
    state = loaded.articles.get(d.subject.id)
    # A version is sent only while it is current (`superseded`), so `state.data` is this delivery's
    # own version; a withdrawal shows only what this partner was entitled to see.
    if d.event_type == "article.withdrawn":
        article = released_to(partner, state, ctx.settings.feeds)
    else:
        article = state.data if state else None
    body = fmt.render(build_push(d, state, article), base_url=ctx.settings.base_url)
    headers = {"Content-Type": fmt.media_type}
    headers.update(auth_headers(target, ctx.settings.secrets_for(target.id), d.id, int(now), body))
    return body, headers


def _prepare_websub(ctx: Context, partner, d: Delivery, loaded: Loaded, now: float) -> tuple[bytes, dict]:
    return websub.ping(d.subject.id)


def _prepare_notice(ctx: Context, partner, d: Delivery, loaded: Loaded, now: float) -> tuple[bytes, dict]:
    body = notices.body_of(ctx, d.subject.id)
    headers = {"Content-Type": "application/json"}
    headers.update(auth_headers(partner, ctx.settings.secrets_for(partner.id), d.id, int(now), body))
    return body, headers


def _prepare_hub(prepare):
    return lambda ctx, target, d, loaded, now: prepare(ctx, target, d, loaded.hub, now)


PREPARERS = {"article": _prepare_article, "websub": _prepare_websub, "notice": _prepare_notice,
             HUB_VERIFY: _prepare_hub(hub.prepare_verify), HUB_CONTENT: _prepare_hub(hub.prepare_content)}


def _send(ctx: Context, target, d: Delivery, body: bytes, headers: dict, loaded: Loaded) -> http.Response:
    """One request: a POST of the prepared body, or a hub verification's GET (checked and acted on)."""
    if d.subject.kind == HUB_VERIFY:
        return hub.send_verification(ctx, target, d, body, headers, loaded.hub)
    return http.send(target, body, headers)


def prepare(ctx: Context, partner, d: Delivery, loaded: Loaded, now: float,
            attempt: TraceContext | None = None) -> tuple[bytes, dict[str, str]]:
    """The request body and headers of one delivery, by its kind (pure apart from reading settings).

    `attempt`: the attempt's span (tracing.py); its `traceparent` continues the event's trace with
    a span id of its own (a new one per call without it)."""
    attempt = attempt or tracecontext.attempt_of(d)
    render = tracing.start("delivery.render", attempt)
    try:
        body, headers = PREPARERS[d.subject.kind](ctx, partner, d, loaded, now)
    finally:
        render.end()
    return body, {**headers, **attempt.headers()}


def _send_all(ctx: Context, partner, ids: list[str], slot: str, keeper: leases.Held, result: BatchResult,
              clock, careful: bool, loaded: Loaded | None = None, recorder=None) -> None:
    """`careful` (the circuit is not closed): a probe; check the circuit after every delivery. The last
    group frees `slot` and says whether more is due; with a `recorder` (engine.py) it is written by
    the recorder, with other batches' last groups, and this returns without waiting for it."""
    loaded = loaded or load(ctx, partner.id, ids)
    group = outcome_group.Group(ctx, partner)
    started = time.monotonic()

    def close_group() -> bool:
        """Write the group; False when the partner may not be sent to any more (circuit, pause)."""
        done = list(group.released)
        group.flush(clock())
        keeper.done(done)
        return circuit.may_send(ctx, partner, clock())

    for i, did in enumerate(ids):
        # Over budget, or a reload published settings newer than this batch's snapshot (ctx is
        # pinned: infra/context.py): the rest goes back to due, so no delivery leaves with an old
        # URL, secret or enabled flag.
        if time.monotonic() - started > BATCH_TIME_BUDGET or ctx.outdated:
            DueSchedule(ctx, partner.id).give_back(ids[i:], clock())
            break
        d = loaded.deliveries.get(did)
        now = clock()
        if d is None or d.final:
            group.finish(did, None, now)
            result.count("skipped")
            continue
        reason = superseded(d, loaded)
        if reason is not None:
            group.finish(did, reason, now, was=d.status)
            result.count(reason.value)
            continue
        body, headers = b"", {}  # stay empty when nothing could be prepared: no request is kept then
        span = tracing.start("delivery.attempt", tracecontext.from_record(d.traceparent, d.tracestate, d.event_id),
                             **{"delivery.id": d.id, "partner": partner.id, "attempt": d.attempts + 1})
        try:
            body, headers = prepare(ctx, partner, d, loaded, now, span.context)
        except Exception as exc:  # a format that cannot render this article: dead letter, not a stuck batch
            log.exception("cannot prepare delivery %s", did)
            what = getattr(ctx.settings.partner(partner.id), "format", d.subject.kind)  # a system target's deliveries have no format
            resp = http.Response(None, {}, "", 0.0, f"cannot render {what}: {exc}"[:300], permanent=True)
        else:
            resp = _send(ctx, partner, d, body, headers, loaded)
        now = clock()
        decision = decide(resp, partner.retry, d, now)
        if d.subject.kind in HUB_KINDS:
            decision = hub.settle(ctx, d, loaded.hub, decision, now)
        span.end(**{"http.response.status_code": resp.status, "outcome": decision.outcome.value})
        # What the attempt sent (none if it could not be prepared); a subscriber's feed is not copied.
        sent = headers and (hub.kept_body(d, body) if d.subject.kind in HUB_KINDS else body, headers)
        group.attempt(d, resp, decision, now, sent, traceparent=headers.get("traceparent"))
        result.count(decision.result)
        # After a timeout the partner may be hanging: the rest of the batch goes back to due rather
        # than wait a read timeout each here; the partner is cut to one slot (outcome_group.py).
        if (careful or not decision.delivered or group.full()) and (not close_group() or resp.timed_out):
            DueSchedule(ctx, partner.id).give_back(ids[i + 1:], clock())
            break
    done = list(group.released)
    if recorder is not None:
        # The leases and the slot end in the recorder's transaction, milliseconds from now: long
        # before they could run out (a third of a lease is left at the least), renewed or not.
        recorder.record(group, clock(), slot, result)
    else:
        result.more_due = group.flush(clock(), end_slot=slot) > 0
    keeper.done(done)


def push_batch(ctx: Context, partner_id: str, clock=time.time, on_claim=None) -> BatchResult:
    """Claim and send up to one batch of the partner's due deliveries. `on_claim(partner_id, more)`,
    called when the claim left work that `more` other batches could start on now."""
    ctx = ctx.pinned()  # the batch's settings snapshot
    partner = targets.resolve_one(ctx, partner_id)  # where its deliveries go (a partner's, a system or a hub subscriber's)
    if partner is None:
        return BatchResult(partner_id)
    claim = begin(ctx, partner, uuid.uuid4().hex, clock())
    if claim.more and on_claim is not None:
        on_claim(partner_id, claim.more)
    return run(ctx, partner, claim, clock)


def run(ctx: Context, partner, claim: Claim, clock=time.time, *, loaded: Loaded | None = None,
        recorder=None) -> BatchResult:
    """Send a claimed batch (claim.py): `loaded` if the engine read it with its wave, `recorder` the
    engine's Recorder for the last group."""
    ctx = ctx.pinned()  # the engine pinned its wave's snapshot already; a direct caller's is pinned here
    result = BatchResult(partner.id)
    state, ids = claim
    if not ids:  # paused, disabled, cooling down, max_in_flight batches running, or nothing due
        return result
    try:
        with leases.hold(ctx, partner, ids, claim.slot, clock) as keeper:
            _send_all(ctx, partner, ids, claim.slot, keeper, result, clock, careful=state != "closed",
                      loaded=loaded, recorder=recorder)
    except BaseException:
        DueSchedule(ctx, partner.id).drop_slot(claim.slot)  # its leases end on their own
        raise
    return result
