"""Recording a group of a push batch's outcomes in one Redis transaction.

    group = Group(ctx, partner)
    group.attempt(delivery, response, decision, now, (body, headers))   # sent: the attempt, what follows
    group.finish(delivery_id, status, now)             # not sent (superseded, cancelled, gone)
    group.flush(now)                                   # one MULTI; the group's leases end with it

A flush writes the attempts (and `request`, what the last one sent: records.add_attempt), the new states, retries rescheduled, dead
letters, parked deliveries, the versions the partner acknowledged, the
circuit's health (a success as plain commands, failures through its script,
in order) and the group's metrics summed in process. What the transaction changed for ops
(a circuit opened or closed, a dead letter, a partner disabled) is logged and notified after
it (delivery/notices.py). Log levels follow what ops must act on: a delivery at INFO, a
retry at WARNING, a dead letter, a disabled partner or an opened circuit at ERROR, a
recovery at WARNING. Scripts run by SHA, not
through redis-py's per-pipeline SCRIPT EXISTS; if Redis has forgotten them
(restarted) they are loaded and run again, each being idempotent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from redis.exceptions import NoScriptError

from syndication.delivery import circuit, deadletters, http, lifecycle, notices, records
from syndication.delivery.schedule import DueSchedule
from syndication.delivery.decide import Decision
from syndication.delivery.lifecycle import DeliveryStatus
from syndication.delivery.model import ARTICLE, Attempt, Delivery
from syndication.infra import metrics
from syndication.infra.context import Context
from syndication.infra.transaction import Transaction
from syndication.partners.target import is_subscriber, metric_id

log = logging.getLogger("syndication.delivery")
GROUP_SIZE = 25  # deliveries recorded per transaction on the healthy path
GROUP_SECONDS = 0.25  # ... or after this long, so a slow partner's outcomes show up promptly

# KEYS[1] partner acked hash. ARGV: article id, version, article id, version, ...
# Keeps the highest acknowledged version of each article.
_ACK = """
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
"""


@dataclass(frozen=True)
class Queued:
    """What a queued group needs to read its answers (Group.queue -> Group.settle)."""

    now: float
    tx: Transaction  # the group's commands, with names for the replies read after
    scripts: dict  # reply name -> (script, keys, args): run by SHA, re-run if Redis had forgotten them
    last: bool  # the batch's last group: its slot ended, the count due now is the reply `due_now`


class Group:
    """Outcomes waiting to be written in one transaction."""

    def __init__(self, ctx: Context, partner):
        self.ctx, self.partner = ctx, partner
        self.schedule = DueSchedule(ctx, partner.id)
        self.pipe = ctx.redis.pipeline(transaction=True)
        self.tally = metrics.Tally()
        self.released: list[str] = []
        self.acked: list[str] = []
        self.recent: list[str] = []
        self.health: list[bool] = []
        self.started: list[float] = []  # when each request of `health` started (time spent failing)
        self.cut: bool | None = None  # True: the last word on health was a timeout; False: a success
        self.size = 0
        self.opened = time.monotonic()
        self.dead: list[tuple[Delivery, http.Response]] = []
        self.gone: http.Response | None = None  # a 410 in this group: the partner is disabled

    def full(self) -> bool:
        return self.size >= GROUP_SIZE or time.monotonic() - self.opened >= GROUP_SECONDS

    def finish(self, did: str, status: DeliveryStatus | None, now: float, was: DeliveryStatus | None = None) -> None:
        """Close a delivery that is not sent (superseded, cancelled, from `was`; None: already final or gone)."""
        if status is not None:
            records.set_status(self.pipe, self.ctx.keys, did, lifecycle.RETIRE, was, status, now,
                               ttl=records.retention_ttl(self.ctx, self.partner.id))
        self.released.append(did)
        self.size += 1

    def attempt(self, d: Delivery, resp: http.Response, decision: Decision, now: float, request: tuple | dict | None = None,
                traceparent: str | None = None) -> None:
        k, pid, label = self.ctx.keys, self.partner.id, metric_id(self.partner.id)
        records.add_attempt(self.pipe, k, d.id, Attempt(
            n=d.attempts + 1, at=now, status=resp.status, latency_ms=round(resp.latency * 1000, 1),
            outcome=decision.outcome.value, error=resp.error, response=resp.excerpt[:500] or None,
            traceparent=traceparent), request)
        records.set_status(self.pipe, k, d.id, lifecycle.SEND, d.status, decision.status, now,
                           ttl=records.retention_ttl(self.ctx, self.partner.id),
                           next_attempt_at=decision.due_at,
                           last_status=resp.status if resp.status is not None else "", last_error=resp.error or "")
        self.released.append(d.id)
        if not decision.delivered:
            circuit.queue_failure(self.pipe, k, pid, d.id, resp.status, resp.error or resp.excerpt[:200] or None, now)
        if decision.result == "retry":
            self.schedule.queue_retry(self.pipe, d.id, decision.due_at)
            self.tally.inc("retries_scheduled", partner=label)
        elif decision.result == "parked":
            circuit.disable(self.pipe, k, pid, now, reason=f"HTTP 410 from {self.partner.url}")
            deadletters.queue_parked(self.pipe, k, pid, d.id, now)
            self.gone = resp
        elif decision.result == "dead":
            deadletters.queue_dead(self.pipe, k, d.id, now)
            self.tally.inc("dead_letters", partner=label)
            self.dead.append((d, resp))
        if decision.delivered and d.subject.kind == ARTICLE:
            self.acked += [d.subject.id, str(d.subject.version)]
        if decision.health is not None:
            self.health.append(decision.health)
            self.started.append(now - resp.latency)
            if decision.health or resp.timed_out:
                self.cut = resp.timed_out
        self.tally.inc("delivery_attempts", partner=label, outcome=decision.result)
        self.tally.observe("delivery_latency_seconds", resp.latency, partner=label)
        self.recent.append(f"{now:.3f},{resp.latency:.4f},{int(decision.delivered)}")
        self.size += 1
        level = logging.INFO if decision.delivered else logging.WARNING if decision.result == "retry" else None
        if level is not None and log.isEnabledFor(level):  # dead and parked: the notice logs them at ERROR
            log.log(level, "delivered" if decision.delivered else
                    f"delivery failed ({_why(resp)}), retry {d.attempts + 2} scheduled", extra={
                        "delivery_id": d.id, "partner": pid, "article_id": d.subject.id, "version": d.subject.version,
                        "attempt": d.attempts + 1, "outcome": decision.result, "status": resp.status,
                        "latency_ms": round(resp.latency * 1000, 1)})

    def flush(self, now: float, end_slot: str | None = None) -> int | None:
        """Write the group in one transaction (the lease of each id in it ends here too).

        With `end_slot` this is the batch's last group: the slot is freed in the same transaction,
        and the count of deliveries due now is returned (more work: mark the partner ready).
        """
        queued = self.queue(now, end_slot)
        return self.settle(queued, self.pipe.execute(raise_on_error=False))

    def queue(self, now: float, end_slot: str | None = None, tally: metrics.Tally | None = None) -> "Queued":
        """Queue the group's writes on its pipeline (`flush` runs them; a Recorder runs many groups'
        in one transaction, summing their metrics in `tally`, which it writes in the same
        transaction) and return what `settle` needs to read their answers."""
        k, pid, pipe = self.ctx.keys, self.partner.id, self.pipe
        tx = Transaction.on(pipe)
        self.schedule.queue_release(pipe, self.released)
        scripts = {}  # name -> (script, keys, args): run by SHA, no SCRIPT EXISTS round trip per group
        if self.acked:
            scripts["acked"] = (self.ctx.script(_ACK), [k.partner_acked(pid)], self.acked)
        if self.recent:
            pipe.lpush(k.partner_recent(pid), *self.recent)
            pipe.ltrim(k.partner_recent(pid), 0, 999)
        # The circuit needs order only at the end: a success resets the count, failures after it add up.
        if any(self.health):
            scripts["success"] = circuit.success_script(self.ctx, pid, now)
        last_success = max((i for i, ok in enumerate(self.health) if ok), default=-1)
        for i, started in enumerate(self.started[last_success + 1:]):
            scripts[("failure", i)] = circuit.failure_script(self.ctx, self.partner, now, started)
        if tally is None:
            self.tally.flush(pipe, k)
        else:
            tally.merge(self.tally)
        for name, (script, keys, args) in scripts.items():
            tx.one(name).evalsha(script.sha, len(keys), *keys, *args)
        if self.cut:  # after the success's reset: a timeout was the last word on this partner
            circuit.queue_cut(pipe, k, pid)
        if end_slot is not None:
            self.schedule.queue_end_slot(pipe, end_slot)
            self.schedule.queue_due_count(tx.one("due_now"), now)
        return Queued(now, tx, scripts, end_slot is not None)

    def settle(self, q: "Queued", results: list) -> int | None:
        """Read the transaction's answers to this group's writes: re-run scripts Redis had forgotten,
        tell ops what changed, start a new group. Returns the count due now for a last group."""
        replies = q.tx.replies(results)
        answers = _answers(self.ctx, replies, q.scripts)
        observed = [a for name, a in answers.items() if isinstance(name, tuple)]  # the failures' circuit states
        self._tell_ops(answers.get("success"), observed, q.now)
        self.__init__(self.ctx, self.partner)
        return int(replies.due_now) if q.last else None

    def _tell_ops(self, success: list | None, observed: list, now: float) -> None:
        """After the transaction: start or end an incident, report dead letters and a disabled partner.
        `success`: what the group's success ended (circuit.SUCCESS's answer), None without one."""
        ctx, partner = self.ctx, self.partner
        if is_subscriber(partner.id):  # anyone may subscribe: a stranger's callback pages no operator
            return
        if success is not None:
            before, incident, affected = success
            if before in (b"open", b"half_open"):
                notices.close_incident(ctx, partner, incident.decode() if incident else None, int(affected or 0), now)
        if any(r in (b"opened", "opened") for r in observed):  # closed -> open: an incident starts
            notices.open_incident(ctx, partner, circuit.health(ctx, partner.id), now)
        if self.gone is not None:
            notices.notify(ctx, "partner.disabled", partner.id, {  # by id: its URL may hold a token
                "partner": partner.id, "status": self.gone.status, "failure": "gone"}, now,
                message=f"partner {partner.id}: disabled, its endpoint answered HTTP 410 Gone; deliveries "
                        f"are parked until `syndication partners enable {partner.id}`")
        for d, resp in self.dead:
            notices.notify(ctx, "delivery.dead", partner.id, {
                "partner": partner.id, "delivery_id": d.id, "article_id": d.subject.id, "version": d.subject.version,
                "attempts": d.attempts + 1, "status": resp.status,
                "failure": notices.failure_of(resp.status, resp.error)}, now,
                message=f"dead letter: delivery {d.id} to {partner.id} gave up after {d.attempts + 1} attempts "
                        f"({_why(resp)})", trace={"traceparent": d.traceparent, "tracestate": d.tracestate})


def _why(resp: http.Response) -> str:
    return f"HTTP {resp.status}" if resp.status is not None else (resp.error or "no answer")


def _answers(ctx: Context, replies, scripts: dict) -> dict:
    """Each script's answer by name. A script Redis did not know (restarted since we loaded it) is
    loaded and run now (after the transaction, so each must be correct on its own: a circuit that
    just opened must still start its incident); any other error is raised."""
    for r in replies.raw:
        if isinstance(r, Exception) and not isinstance(r, NoScriptError):
            raise r
    answers = {}
    for name, (script, keys, args) in scripts.items():
        answer = replies[name]
        # Only the scripts that did not run: one that ran in the transaction must not run twice (a
        # failure counted twice; a success's answer, what it ended, read after it ended it).
        answers[name] = script(keys=keys, args=args) if isinstance(answer, NoScriptError) else answer
    return answers
