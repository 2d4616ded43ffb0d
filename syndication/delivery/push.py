"""Pushing a batch of one partner's due deliveries: claim -> load -> send -> record.

A push batch (a pusher of the delivery engine runs it, engine.py) works for one partner, on its
keep-alive session (http.py: pooled per partner per process):

1. in one round trip (`begin`): check the partner may be sent to (enabled, not
   paused, circuit), take one of its `max_in_flight` slots and claim its share of
   the due ids (up to `batch_size`) under a lease (schedule.py), leaving the rest
   to batches that run at the same time;
2. load everything the batch needs in two round trips: the delivery records,
   then the article states and the versions the partner already acknowledged;
3. for each delivery: skip it as *superseded* when the article moved past
   its version or the partner acknowledged a newer one (a pending retry of v1
   never lands after v2); otherwise prepare it (its kind's preparer renders
   and signs: an article in the partner's format, or a WebSub hub ping), send
   one POST with explicit timeouts, and `decide` what follows (decide.py);
4. record outcomes per *group* in one Redis transaction (recording.py). A
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

from syndication.articles import ArticleState
from syndication.delivery import circuit, http, leases, notices, recording, schedule, websub
from syndication.delivery.decide import decide
from syndication.delivery.records import Delivery, DeliveryStatus
from syndication.infra.context import Context
from syndication.partners.formats import PUSH_FORMATS, Push
from syndication.partners.signing import auth_headers

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
    """What a batch read before sending: records, article states, acknowledged versions."""

    deliveries: dict[str, Delivery]
    articles: dict[str, ArticleState | None]
    acked: dict[str, int]


def load(ctx: Context, partner_id: str, ids: list[str]) -> Loaded:
    pipe = ctx.redis.pipeline(transaction=False)
    for did in ids:
        pipe.hgetall(ctx.keys.delivery(did))
    found = {did: Delivery.from_hash(h) for did, h in zip(ids, pipe.execute()) if h}
    subjects = sorted({d.article_id for d in found.values() if d.kind == "article"})
    if not subjects:
        return Loaded(found, {}, {})
    pipe = ctx.redis.pipeline(transaction=False)
    pipe.hmget(ctx.keys.partner_acked(partner_id), subjects)
    for a in subjects:
        pipe.hgetall(ctx.keys.article(a))
    acked, *states = pipe.execute()
    return Loaded(found, {a: ctx.articles.state_from(a, h) for a, h in zip(subjects, states)},
                  {a: int(v or 0) for a, v in zip(subjects, acked)})


def superseded(d: Delivery, loaded: Loaded) -> DeliveryStatus | None:
    """Why this delivery must not be sent any more, or None if it should be."""
    if d.kind != "article":
        return None  # a hub ping is always worth sending (the hub fetches the latest bytes), a notice too
    if d.event_type == "article.withdrawn":
        # Always sent: a partner that never got a version learns nothing it can misuse, while
        # skipping risks a partner keeping an article whose push was on the wire (at-least-once).
        return None
    if loaded.acked.get(d.article_id, 0) > d.version:  # equal: this very delivery, replayed on purpose
        return DeliveryStatus.SUPERSEDED
    state = loaded.articles.get(d.article_id)
    if state is not None and state.version > d.version:
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
        delivery_id=d.id, event_id=d.event_id, event_type=d.event_type, article_id=d.article_id,
        version=d.version, article=article,
        withdrawn=d.event_type == "article.withdrawn", reason=state.reason if state else "",
        occurred_at=d.occurred_at or None,
    )


def _prepare_article(ctx: Context, partner, d: Delivery, loaded: Loaded, now: float) -> tuple[bytes, dict]:
    fmt = PUSH_FORMATS[partner.format]
    state = loaded.articles.get(d.article_id)
    # A version is sent only while it is current (`superseded`), so `state.data` is this delivery's
    # own version; a withdrawal shows only what this partner was entitled to see.
    if d.event_type == "article.withdrawn":
        article = released_to(partner, state, ctx.settings.feeds)
    else:
        article = state.data if state else None
    body = fmt.render(build_push(d, state, article), base_url=ctx.settings.base_url)
    headers = {"Content-Type": fmt.media_type}
    headers.update(auth_headers(partner, ctx.settings.secrets_for(partner.id), d.id, int(now), body))
    return body, headers


def _prepare_websub(ctx: Context, partner, d: Delivery, loaded: Loaded, now: float) -> tuple[bytes, dict]:
    return websub.ping(d.article_id)


def _prepare_notice(ctx: Context, partner, d: Delivery, loaded: Loaded, now: float) -> tuple[bytes, dict]:
    body = notices.body_of(ctx, d.article_id)
    headers = {"Content-Type": "application/json"}
    headers.update(auth_headers(partner, ctx.settings.secrets_for(partner.id), d.id, int(now), body))
    return body, headers


PREPARERS = {"article": _prepare_article, "websub": _prepare_websub, "notice": _prepare_notice}


def prepare(ctx: Context, partner, d: Delivery, loaded: Loaded, now: float) -> tuple[bytes, dict[str, str]]:
    """The request body and headers of one delivery, by its kind (pure apart from reading settings)."""
    return PREPARERS[d.kind](ctx, partner, d, loaded, now)


def _send_all(ctx: Context, partner, ids: list[str], slot: str, keeper: leases.Held, result: BatchResult,
              clock, careful: bool) -> None:
    """`careful` (the circuit is not closed): a probe; check the circuit after every delivery. The last
    group frees `slot` and says whether more is due."""
    loaded = load(ctx, partner.id, ids)
    group = recording.Group(ctx, partner)
    started = time.monotonic()

    def close_group() -> bool:
        """Write the group; False when the partner may not be sent to any more (circuit, pause)."""
        done = list(group.released)
        group.flush(clock())
        keeper.done(done)
        return circuit.may_send(ctx, partner, clock())

    for i, did in enumerate(ids):
        # Over budget, or the partners file was reloaded (ops/reload.py swaps ctx.settings): the rest
        # goes back to due, so no delivery leaves with an old URL, secret or enabled flag.
        if time.monotonic() - started > BATCH_TIME_BUDGET or ctx.settings.partner(partner.id) is not partner:
            _give_back(ctx, partner, ids[i:], clock())
            break
        d = loaded.deliveries.get(did)
        now = clock()
        if d is None or d.final:
            group.finish(did, None, now)
            result.count("skipped")
            continue
        reason = superseded(d, loaded)
        if reason is not None:
            group.finish(did, reason, now)
            result.count(reason.value)
            continue
        try:
            body, headers = prepare(ctx, partner, d, loaded, now)
        except Exception as exc:  # a format that cannot render this article: dead letter, not a stuck batch
            log.exception("cannot prepare delivery %s", did)
            resp = http.Response(None, {}, "", 0.0, f"cannot render {partner.format}: {exc}"[:300], permanent=True)
        else:
            resp = http.send(partner, body, headers)
        now = clock()
        decision = decide(resp, partner.retry, d, now)
        group.attempt(d, resp, decision, now)
        result.count(decision.result)
        # After a timeout the partner may be hanging: the rest of the batch goes back to due rather
        # than wait a read timeout each here; the partner is cut to one slot (recording.py).
        if (careful or not decision.delivered or group.full()) and (not close_group() or resp.timed_out):
            _give_back(ctx, partner, ids[i + 1:], clock())
            break
    done = list(group.released)
    result.more_due = group.flush(clock(), end_slot=slot) > 0
    keeper.done(done)


def _give_back(ctx: Context, partner, ids: list[str], now: float) -> None:
    """Unsent ids go back to due (for the next batch, or after the circuit's cool-down)."""
    if ids:
        pipe = ctx.redis.pipeline(transaction=True)
        pipe.zrem(ctx.keys.partner_inflight(partner.id), *ids)
        pipe.zadd(ctx.keys.partner_due(partner.id), {i: now for i in ids})
        pipe.execute()


def push_batch(ctx: Context, partner_id: str, clock=time.time, on_claim=None) -> BatchResult:
    """Send up to one batch of the partner's due deliveries. `on_claim(partner_id, more)`, called
    when the claim left work that `more` other batches could start on now (delivery/engine.py)."""
    result = BatchResult(partner_id)
    partner = ctx.settings.partner(partner_id)
    if partner is None:
        return result
    slot = uuid.uuid4().hex
    claim = begin(ctx, partner, slot, clock())
    state, ids = claim
    if claim.more and on_claim is not None:
        on_claim(partner_id, claim.more)
    if not ids:  # paused, disabled, cooling down, max_in_flight batches running, or nothing due
        return result
    try:
        with leases.hold(ctx, partner, ids, slot, clock) as keeper:
            _send_all(ctx, partner, ids, slot, keeper, result, clock, careful=state != "closed")
    except BaseException:
        ctx.redis.zrem(ctx.keys.partner_slots(partner.id), slot)  # its leases end on their own
        raise
    return result


# KEYS: paused, circuit, slots, due, inflight, partners ready.
# ARGV: now, cooldown, max_in_flight, slot token, lease until, limit, enabled (1|0), partner id.
# Returns {circuit state or why nothing was claimed, [more batches possible, claimed ids...]}.
_BEGIN = """
if ARGV[7] == '0' or redis.call('EXISTS', KEYS[1]) == 1 then return {'paused'} end
if redis.call('HGET', KEYS[2], 'disabled') == '1' then return {'disabled'} end
local state = redis.call('HGET', KEYS[2], 'state') or 'closed'
local now = tonumber(ARGV[1])
if state ~= 'closed' then
  local since = tonumber(redis.call('HGET', KEYS[2], state == 'open' and 'opened_at' or 'probe_at') or '0')
  if now - since < tonumber(ARGV[2]) then return {'cooling'} end
end
local slots, limit = tonumber(ARGV[3]), tonumber(ARGV[6])
if redis.call('HGET', KEYS[2], 'cut') == '1' then slots, limit = 1, 1 end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
local free = slots - redis.call('ZCARD', KEYS[3])
if free <= 0 then return {'busy'} end
local due = redis.call('ZCOUNT', KEYS[4], '-inf', ARGV[1])
if due == 0 then return {'empty'} end
local take = math.min(limit, math.ceil(due / free))
local ids = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[1], 'LIMIT', 0, take)
if state ~= 'closed' then redis.call('HSET', KEYS[2], 'state', 'half_open', 'probe_at', ARGV[1]) end
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[4], id)
  redis.call('ZADD', KEYS[5], ARGV[5], id)
end
local more = 0
if state == 'closed' and due > #ids and free > 1 then
  more = math.min(free - 1, due - #ids)
  redis.call('ZADD', KEYS[6], 'NX', ARGV[1], ARGV[8])
end
table.insert(ids, 1, tostring(more))
table.insert(ids, 1, state)
return ids
"""


class Claim(tuple):
    """(state, ids) of push.begin, and `more`: how many more batches could start on the rest now."""

    more: int = 0


def begin(ctx: Context, partner, slot: str, now: float) -> Claim:
    """In one round trip: may the partner be sent to (enabled, not paused, circuit), take one of its
    `max_in_flight` slots, claim due ids under a lease. Returns the circuit state (or why nothing
    was claimed) and the ids; a half-open circuit's probe is taken here.

    What is due is split among the partner's free slots (up to `batch_size` per batch) and, when
    some is left and a slot is free, the partner is marked ready again at once: another pusher
    claims the next share (the engine hands it to its idle pushers at once: `Claim.more`, `on_claim`),
    so one partner's requests run concurrently up to `max_in_flight`
    instead of one after another in a single batch. A partner that timed out (`cut` in its
    circuit, recording.py) gets one slot and one delivery per batch until it answers again.
    """
    k = ctx.keys
    lease_until = now + schedule.lease_seconds(partner)
    reply = ctx.script(_BEGIN)(
        keys=[k.partner_paused(partner.id), k.partner_circuit(partner.id), k.partner_slots(partner.id),
              k.partner_due(partner.id), k.partner_inflight(partner.id), k.partners_ready],
        args=[now, partner.breaker_cooldown, partner.max_in_flight, slot, lease_until, partner.batch_size,
              int(partner.enabled), partner.id])
    state, *rest = [x.decode() for x in reply]
    claim = Claim((state, rest[1:]))
    claim.more = int(rest[0]) if rest else 0
    return claim
