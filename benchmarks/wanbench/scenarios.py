"""Running one scenario on one design, and reading what the partners saw.

Every latency counts from the event's *scheduled* send time (a paced stream's i-th event: start +
i / rate; a single event: when it was sent), to the moment the partner has the push (the
receiver's emulated arrival: harness/wan_partner.py). A fan-out's completion is 202 -> last
partner (raw: from the start of its fan-out, it has no API). Each design runs on a receiver
reset for it, so its log holds only its own pushes.

What the receiver saw is read in analysis.py (deliveries, latencies, the ledger).
"""

from __future__ import annotations

import time

from benchmarks.harness import BenchError
from benchmarks.harness.cpu import cpu_of, cpu_since, machine_busy
from benchmarks.harness.publish import Sender
from benchmarks.wanbench.analysis import cdf, check_signed, deliveries, in_flight, ledger, per_event, quantiles
from benchmarks.wanbench.designs import Naive, Raw, Service, role
from benchmarks.wanbench.workload import Scenario, event

GAP = 1.0  # seconds between two fan-out events of one design


def by_role(cpu: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, secs in cpu.items():
        out[role(label)] = out.get(role(label), 0.0) + secs
    return out


def events_for(run, sc: Scenario, tag: str, n: int) -> list[tuple[str, bytes]]:
    """The same article ids for every design of a scenario: they meet the same failures (fate())."""
    from datetime import UTC, datetime, timedelta

    base = datetime.now(UTC) - timedelta(minutes=20)
    return [event(f"{run.run_id}{sc.key}{tag}", i, base + timedelta(milliseconds=i)) for i in range(n)]


# =========================================================================== fan-out


def fanout(run, sc: Scenario, design) -> dict:
    evs = events_for(run, sc, "f", sc.events)
    n = len(sc.partners)
    run.wp.reset()
    out = {"design": design.name, "describe": design.describe(), "events": []}
    if isinstance(design, Raw):
        res = design.go(evs, "sequential")
        log = run.wp.log()
        for r in res["events"]:
            ev = per_event(log, r["article"], r["t_sched"], r["t_sched"], n)
            ev["cpu_ms_per_delivery"] = {"raw-client": 1000 * r["cpu_s"] / max(1, ev["received"])}
            ev["cpu_s"] = {"raw-client": r["cpu_s"]}
            out["events"].append(ev)
        expected = {(p, a) for p, _ in sc.partners for a, _ in evs}
        out["ledger"] = ledger(log, expected, sum(r["ok"] for r in res["events"]), sum(r["lost"] for r in res["events"]))
        return out
    pids = design.pids()
    timed_out = False
    for aid, body in evs:
        lost0 = design.counts().get("lost", 0) if isinstance(design, Naive) else 0
        cpu0, busy0, w0 = cpu_of(pids), machine_busy(), time.time()
        t_sent, t_202 = design.publish(body)
        done = wait_event(run, design, aid, n, lost0, t_202 + run.args.event_timeout)
        timed_out = timed_out or not done
        cpu = cpu_since(pids, cpu0)
        ev = per_event(run.wp.log(), aid, t_202, t_sent, n)
        ev.update({"post_s": t_202 - t_sent, "timed_out": not done, "cpu_s": by_role(cpu),
                   "machine_busy_pct": 100 * (machine_busy() - busy0) / (time.time() - w0) / run.nproc})
        ev["cpu_ms_per_delivery"] = {k: 1000 * v / max(1, ev["received"]) for k, v in ev["cpu_s"].items()}
        out["events"].append(ev)
        run.say(f"  {design.name} event {len(out['events'])}/{len(evs)}: {ev['received']}/{n} in "
                f"{ev['last_s'] or float('nan'):.2f} s" + ("  (timed out)" if not done else ""))
        if not done:
            break  # its backlog would be inside the next event's figures
        time.sleep(GAP)
    sent = [e["article"] for e in out["events"]]
    out["ledger"] = published_ledger(run, design, sent, sc, cut=timed_out)
    return out


def wait_event(run, design, aid: str, n: int, lost0: int, deadline: float) -> bool:
    """Until every partner has the event (or the design has given up on the rest), or the deadline.
    Then until the receiver's answers are out and the design has recorded them."""
    while True:
        st = run.wp.stats()
        got = st["ok_by_article"].get(aid, 0)
        lost = design.counts().get("lost", 0) - lost0 if isinstance(design, Naive) else 0
        if got + lost >= n:
            break
        if time.time() > deadline:
            return False
        design.alive()
        time.sleep(0.05)
    while time.time() < st["last_answer"] + 0.3:  # the last answers on their way, and recorded
        time.sleep(0.05)
    return True


def published_ledger(run, design, articles: list[str], sc: Scenario, cut: bool) -> dict:
    """The ledger of a naive or service run, read once nothing more moves."""
    expected = {(p, a) for p, _ in sc.partners for a in articles}
    note = ""
    if isinstance(design, Naive):
        deadline = time.time() + sc.read_timeout + 10
        while sum(design.counts().values()) < len(expected) and time.time() < deadline:
            time.sleep(0.2)  # tasks still waiting on a hung partner
        c = design.counts()
        return ledger(run.wp.log(), expected, c.get("ok", 0), c.get("lost", 0))
    if cut:  # the service still works: stop its pushers (they record what they hold) before counting
        clean = design.stop_deliveries()
        note = "deliveries workers stopped to count" + ("" if clean else " (killed after 30 s: in-flight pushes unrecorded)")
    deadline = time.time() + 10
    while True:
        status = {a: design.statuses(a) for a in articles}
        delivered = sum(1 for a in articles for s in status[a].values() if s == "delivered")
        res = ledger(run.wp.log(), expected, delivered, len(expected) - delivered, note)
        if res["balanced"] or time.time() > deadline:
            states: dict[str, int] = {}
            for a in articles:
                for s in status[a].values():
                    states[s] = states.get(s, 0) + 1
            res["states"] = states
            return res
        time.sleep(0.5)


# =========================================================================== steady stream and crowd


def steady(run, sc: Scenario, design) -> dict:
    n_events = max(1, round(sc.rate * sc.seconds))
    evs = events_for(run, sc, "s", n_events)
    n = len(sc.partners)
    run.wp.reset()
    out = {"design": design.name, "describe": design.describe(), "events": n_events, "rate": sc.rate}
    if isinstance(design, Raw):
        res = design.go(evs, "paced", sc.rate)
        sched = {r["article"]: r["t_sched"] for r in res["events"]}
        out["cpu_s"] = {"raw-client": res["cpu_s"]}
        ok, lost = sum(r["ok"] for r in res["events"]), sum(r["lost"] for r in res["events"])
        timed_out = False
    else:
        pids = design.pids()
        cpu0 = cpu_of(pids)
        lost0 = design.counts().get("lost", 0) if isinstance(design, Naive) else 0
        sent = Sender(design.port).post_paced([b for _, b in evs], sc.rate, connections=4)
        sched = {aid: sent[0][1] + i / sc.rate for i, (aid, _) in enumerate(evs)}
        timed_out = not wait_all(run, design, n * n_events, lost0, time.time() + run.args.event_timeout)
        out["cpu_s"] = by_role(cpu_since(pids, cpu0))
    log = run.wp.log()
    got = deliveries(log, set(sched))
    lat = [has - sched[a] for (_, a), has in got.items()]
    first, last = min(sched.values()), max(got.values(), default=float("nan"))
    out.update({"expected": n * n_events, "received": len(got), "timed_out": timed_out, "latency": quantiles(lat),
                "cdf_ms": cdf([1000 * x for x in lat]), "rate_delivered": len(got) / (last - first) if got else 0.0,
                "connections": sum(1 for e in log if e[7]), "requests": len(log)})
    out["cpu_ms_per_delivery"] = {k: 1000 * v / max(1, len(got)) for k, v in out["cpu_s"].items()}
    expected = {(p, a) for p, _ in sc.partners for a in sched}
    if isinstance(design, Raw):
        out["ledger"] = ledger(log, expected, ok, lost)
    else:
        out["ledger"] = published_ledger(run, design, list(sched), sc, cut=timed_out)
    return out


def wait_all(run, design, want: int, lost0: int, deadline: float, partners: set[str] | None = None) -> bool:
    while True:
        st = run.wp.stats()
        got = st["ok_unique"] if partners is None else sum(
            1 for e in run.wp.log() if e[3] == 200 and e[0] in partners)
        lost = design.counts().get("lost", 0) - lost0 if isinstance(design, Naive) else 0
        if got + lost >= want:
            while time.time() < st["last_answer"] + 0.3:
                time.sleep(0.05)
            return True
        if time.time() > deadline:
            return False
        design.alive()
        time.sleep(0.1 if partners is None else 0.5)


def crowd(run, sc: Scenario, design: Service) -> dict:
    """A stream to 2 healthy, 4 slow and 6 hanging partners, then a breaking story."""
    n_events = max(1, round(sc.rate * sc.seconds))
    evs = events_for(run, sc, "c", n_events + 1)
    stream, breaking = evs[:-1], evs[-1]
    healthy, slow = set(sc.ids("healthy")), set(sc.ids("slow"))
    run.wp.reset()
    pids = design.pids()
    cpu0 = cpu_of(pids)
    sent = Sender(design.port).post_paced([b for _, b in stream], sc.rate, connections=4)
    sched = {aid: sent[0][1] + i / sc.rate for i, (aid, _) in enumerate(stream)}
    t_sent, t_202 = design.publish(breaking[1])
    sched[breaking[0]] = t_sent
    want = len(evs) * len(healthy | slow)
    done = wait_all(run, design, want, 0, time.time() + run.args.event_timeout, partners=healthy | slow)
    cpu = by_role(cpu_since(pids, cpu0))
    log = run.wp.log()
    got = deliveries(log, set(sched))

    def lat(group: set[str], articles) -> list[float]:
        return [has - sched[a] for (p, a), has in got.items() if p in group and a in articles]

    first_second = {a for a, t in sched.items() if t - sent[0][1] < 1.0 and a != breaking[0]}
    to_healthy = [got.get((p, breaking[0])) for p in sorted(healthy)]
    res = {"design": design.name, "describe": design.describe(), "events": n_events, "rate": sc.rate,
           "timed_out": not done, "cpu_s": cpu,
           "healthy": quantiles(lat(healthy, set(sched) - {breaking[0]})),
           "healthy_first_second": quantiles(lat(healthy, first_second)),
           "slow": quantiles(lat(slow, set(sched) - {breaking[0]})),
           "breaking_to_healthy_s": max(t - t_202 for t in to_healthy) if all(to_healthy) else None,
           "breaking_post_s": t_202 - t_sent,
           "hanging_requests": sum(1 for e in log if e[3] == 0), "in_flight": in_flight(log),
           "hung_at_once": in_flight([e for e in log if e[3] == 0]),
           "hung_held": quantiles([e[6] - e[4] for e in log if e[3] == 0 and e[6] is not None]),
           "received": len(got), "expected_healthy_slow": want,
           "cdf_ms": cdf([1000 * x for x in lat(healthy, set(sched) - {breaking[0]})])}
    res["ledger"] = published_ledger(run, design, list(sched), sc, cut=True)
    return res


def run_scenario(run, sc: Scenario) -> dict:
    """Every design of the scenario, each on fresh processes, one after another."""
    from benchmarks.wanbench.designs import designs_for

    run.wp.setup(sc.partners, sc.profiles, sc.tls)
    out = {"key": sc.key, "title": sc.title, "shape": sc.shape, "partners": len(sc.partners), "tls": sc.tls,
           "read_timeout": sc.read_timeout, "profiles": sc.profiles, "results": []}
    shape = {"fanout": fanout, "steady": steady, "crowd": crowd}[sc.shape]
    for kind in designs_for(run, sc):
        t0 = time.time()
        run.say(f"({sc.key}) {sc.title}: {kind.name}")
        design = kind(run, sc)
        try:
            if isinstance(design, Raw):
                res = shape(run, sc, design)
            else:
                with design:
                    run.say(f"  {kind.name} up in {time.time() - t0:.0f} s")
                    res = shape(run, sc, design)
                    res["commands"] = design.commands()
                    t1 = time.time()
                run.say(f"  {kind.name} stopped in {time.time() - t1:.0f} s")
        except BenchError as exc:
            res = {"design": kind.name, "error": str(exc)}
            run.errors.append(f"({sc.key}) {kind.name}: {exc}")
        check_signed(run, f"({sc.key}) {kind.name}")
        run.say(f"  ({sc.key}) {kind.name} took {time.time() - t0:.0f} s")
        out["results"].append(res)
        run.wp.setup(sc.partners, sc.profiles, sc.tls)  # drop every connection: the next design starts cold
    return out
