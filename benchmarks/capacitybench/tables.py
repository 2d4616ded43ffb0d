"""The capacity benchmark's figures: per-unit costs from the phases, the model's inputs, and the tables.

`figures(doc)` turns the raw phases into what docs/deploy.md quotes:

- CPU ms per delivery of each role in the paced deliveries phase, net of the role's idle cost
  over the same seconds (the housekeeping thread and broker polls run whether or not there is
  work); the API, events and feeds workers per *accepted event* come from the events-only phase;
- Redis commands per accepted event (events-only phase) and per delivery: gross (everything in the
  deliveries phase / deliveries) and marginal (gross less its events' share at the per-event rate);
- the same at saturation (the burst: as fast as this box goes);
- fixed costs per process per second (idle);
- memory per delivery record kept for the retention.
"""

from __future__ import annotations

from benchmarks.harness import report

ROLES = ("deliveries", "events", "feeds", "api", "redis")


def _net(phase: dict, idle: dict, role: str) -> float:
    """CPU seconds of `role` in `phase` less what it burns idle over as many seconds."""
    per_s = idle["cpu"].get(role, 0.0) / idle["seconds"]
    return phase["cpu"].get(role, 0.0) - per_s * phase["seconds"]


def figures(doc: dict) -> dict:
    idle, ev, dl, burst = doc["idle"], doc["events_only"], doc["deliveries"], doc["burst"]
    n_ev, n_dl = ev["events"], dl["deliveries"]
    per_event_cmds = ev["redis_cmds"] / n_ev
    fig = {
        "cpu_ms_per_delivery": {r: 1000 * _net(dl, idle, r) / n_dl for r in ROLES},
        "cpu_ms_per_delivery_gross": {r: 1000 * dl["cpu"].get(r, 0.0) / n_dl for r in ROLES},
        "cpu_ms_per_event": {r: 1000 * _net(ev, idle, r) / n_ev for r in ROLES},
        "idle_cpu_pct_per_process": {r: 100 * idle["cpu"].get(r, 0.0) / idle["seconds"] / idle["processes"].get(r, 1)
                                     for r in ROLES if r in idle["processes"]},
        "idle_redis_cmds_per_s": idle["redis_cmds"] / idle["seconds"],
        "redis_cmds_per_event": per_event_cmds,
        "redis_round_trips_per_event": ev["redis_reads"] / n_ev,
        "redis_cmds_per_delivery_gross": dl["redis_cmds"] / n_dl,
        "redis_cmds_per_delivery": (dl["redis_cmds"] - per_event_cmds * dl["events"]) / n_dl,
        "redis_round_trips_per_delivery_gross": dl["redis_reads"] / n_dl,
        # The service's own command mix, per second of the Redis server's CPU: what one Redis core does
        # with our traffic (round trips, Lua, MULTI), to set beside redis-benchmark's figures.
        "service_cmds_per_redis_cpu_s": dl["redis_cmds"] / dl["cpu"]["redis"] if dl["cpu"].get("redis") else float("nan"),
        "burst_rate": burst["rate"],
        "burst_cpu_ms_per_delivery": {r: 1000 * sum(v for k, v in burst["cpu"].items() if _role(k) == r)
                                      / max(burst["received"], 1) for r in ROLES},
        "burst_redis_cmds_per_delivery": burst["redis_cmds_per_delivery"],
        "memory": doc["memory"],
        "memory_delta_per_event": ev["memory_delta"] / n_ev,
        "memory_delta_per_delivery": (dl["memory_delta"] - ev["memory_delta"] / n_ev * dl["events"]) / n_dl,
    }
    rb = doc.get("redis_benchmark") or []
    fig["one_redis_limit"] = {f"{days}d": one_redis_limit(fig, days) for days in (30, 3, 1)}
    fig["model"] = [model(fig, d) for d in (100, 1000, 3000, 10000)]
    fig["redis_benchmark"] = {x["run"]: {"commands_per_s": x["commands_per_s"],
                                         "commands_per_server_cpu_s": x["commands_per_server_cpu_s"]} for x in rb}
    return fig


def _role(label: str) -> str:
    from benchmarks.pushbench.targets import role

    return role(label)


def _f(x: float, digits: int = 2) -> str:
    return "-" if x != x else f"{x:,.{digits}f}"


def all_tables(doc: dict, fig: dict) -> list:
    idle, ev, dl, burst = doc["idle"], doc["events_only"], doc["deliveries"], doc["burst"]
    t1 = report.table(f"1. CPU per unit of work, by role (ms of one core; paced: {dl['events']} events at "
                      f"{dl['rate']:g}/s x {doc['partners']} partners = {dl['deliveries']} deliveries in "
                      f"{dl['seconds']:.1f} s; events only: {ev['events']} at {ev['rate']:g}/s)",
                      ["role", "processes", "ms / delivery (net)", "ms / delivery (gross)",
                       "ms / accepted event", f"burst ms / delivery ({burst['rate']:,.0f}/s)", "idle % of a core / process"],
                      left=("role",))
    for r in ROLES:
        t1.add_row(r, str(idle["processes"].get(r, 1)), _f(fig["cpu_ms_per_delivery"][r], 3),
                   _f(fig["cpu_ms_per_delivery_gross"][r], 3), _f(fig["cpu_ms_per_event"][r], 3),
                   _f(fig["burst_cpu_ms_per_delivery"][r], 3), _f(fig["idle_cpu_pct_per_process"].get(r, float("nan")), 2))
    t2 = report.table("2. Redis commands (INFO total_commands_processed, Lua's inner calls included; the "
                      "benchmark's own left out)", ["what", "commands", "round trips"], left=("what",))
    t2.add_row("per accepted event (apply, feeds, no delivery)", _f(fig["redis_cmds_per_event"], 1),
               _f(fig["redis_round_trips_per_event"], 1))
    # Round trips per event depend on how apply batches form at the phase's rate: a marginal figure
    # (a difference of two phases) is noise, so only the gross one is shown.
    t2.add_row("per delivery, marginal (paced)", _f(fig["redis_cmds_per_delivery"], 1), "-")
    t2.add_row("per delivery, gross incl. its events (paced)", _f(fig["redis_cmds_per_delivery_gross"], 1),
               _f(fig["redis_round_trips_per_delivery_gross"], 1))
    t2.add_row(f"per delivery, gross (burst, {burst['rate']:,.0f}/s)", _f(fig["burst_redis_cmds_per_delivery"], 1),
               _f(burst["redis_round_trips_per_delivery"], 1))
    t2.add_row("the service's mix: commands per second of Redis server CPU (paced)",
               _f(fig["service_cmds_per_redis_cpu_s"], 0), "-")
    t2.add_row(f"idle, per second (all {sum(idle['processes'].get(r, 0) for r in ROLES[:4])} service processes)",
               _f(fig["idle_redis_cmds_per_s"], 1), _f(idle["redis_reads"] / idle["seconds"], 1))
    m = fig["memory"]
    t3 = report.table(f"3. Redis memory kept per delivery for the retention (MEMORY USAGE, {m['sampled']} "
                      f"deliveries sampled; TTL given {m['ttl_s'] / 86400:.1f} days)", ["what", "bytes"], left=("what",))
    for label, key in (("delivery:{id} hash", "record"), ("delivery:{id}:attempts list", "attempts"),
                       ("partner:{p}:history entry", "history_entry"), ("article:{a}:deliveries entry",
                                                                        "article_set_entry")):
        t3.add_row(label, _f(m[key], 0))
    t3.add_row("total per delivery", _f(m["total"], 0))
    t3.add_row("used_memory delta per delivery (marginal, paced)", _f(fig["memory_delta_per_delivery"], 0))
    pe = m["per_event"]
    for label, key in (("per event: event:{id} hash (7 days)", "event"), ("per event: article:{id} hash (kept)",
                                                                           "article"),
                       ("per event: change log entry (changelog_retention)", "changelog_entry")):
        t3.add_row(label, _f(pe[key], 0))
    t3.add_row("used_memory delta per accepted event (article, event, change log, feeds)",
               _f(fig["memory_delta_per_event"], 0))
    t4 = report.table("4. redis-benchmark of this box (own redis-server, AOF everysec; the client shares the cores)",
                      ["run", "commands/s", "commands per server CPU second", "requests/s"], left=("run",))
    for x in doc.get("redis_benchmark") or []:
        rps = ", ".join(f"{k.split(' ', 1)[0]} {v:,.0f}" for k, v in x["requests_per_s"].items())
        t4.add_row(x["run"], _f(x["commands_per_s"], 0), _f(x["commands_per_server_cpu_s"], 0), rps)
    load = (f"other processes on this shared machine used {idle['other_cores']:.2f} / {ev['other_cores']:.2f} / "
            f"{dl['other_cores']:.2f} cores during the idle / events-only / paced phases; "
            f"load average at the end {doc.get('load_at_end', '?')}")
    return [t1, t2, t3, t4, model_table(fig), load]


# The model's assumptions, printed with it (docs/deploy.md explains them).
FANOUT = 10  # partners per event
HEADROOM = 0.6  # plan every process and Redis at 60% of a core: bursts, retries, a host lost
HOST_CORES = 4  # a worker host
REDIS_MEMORY_GB = 64  # the largest Redis one would run as one primary
DAY = 86400.0


def model(fig: dict, d: float, retention_days: float = 3.0) -> dict:
    """What D deliveries/s need, from this run's per-unit costs (paced: the dearer, small-batch figures)."""
    e = d / FANOUT
    cpu = fig["cpu_ms_per_delivery"]
    ev = fig["cpu_ms_per_event"]
    # Per role: its cost per accepted event (events-only phase) for every event, plus what each delivery
    # adds beyond its event's share (paced phase; never below 0: apply batches differ between phases).
    cores = {r: (e * ev[r] + d * max(0.0, cpu[r] - ev[r] / FANOUT)) / 1000 / HEADROOM
             for r in ("deliveries", "events", "feeds", "api")}
    cmds = e * fig["redis_cmds_per_event"] + d * fig["redis_cmds_per_delivery"]
    redis_core = cmds / fig["service_cmds_per_redis_cpu_s"] / HEADROOM  # over 1.0: past one Redis primary
    pe = fig["memory"]["per_event"]
    mem = (d * retention_days * DAY * fig["memory"]["total"]
           + e * (7 * DAY * pe["event"] + retention_days * DAY * pe["changelog_entry"]))
    return {"deliveries_per_s": d, "events_per_s": e, "cores": cores, "redis_cmds_per_s": cmds,
            "redis_cores": redis_core, "redis_memory_gb": mem / 1e9,
            "deliveries_processes": max(1, int(-(-cores["deliveries"] // 1))),
            "worker_hosts": max(1, int(-(-(cores["deliveries"] + cores["events"] + cores["feeds"]) // HOST_CORES)))}


def one_redis_limit(fig: dict, retention_days: float) -> dict:
    """Deliveries/s at which one Redis primary runs out: its core at HEADROOM, or REDIS_MEMORY_GB."""
    per_d_cmds = fig["redis_cmds_per_delivery"] + fig["redis_cmds_per_event"] / FANOUT
    by_cpu = HEADROOM * fig["service_cmds_per_redis_cpu_s"] / per_d_cmds
    per_d_bytes = model(fig, 1.0, retention_days)["redis_memory_gb"] * 1e9
    return {"by_cpu": by_cpu, "by_memory": REDIS_MEMORY_GB * 1e9 / per_d_bytes}


def model_table(fig: dict):
    t = report.table(f"5. The model (docs/deploy.md): {FANOUT} partners per event, every process and Redis planned "
                     f"at {HEADROOM:.0%} of a core, {HOST_CORES}-core worker hosts, delivery retention 3 days",
                     ["deliveries/s", "events/s", "deliveries cores (processes)", "events cores", "feeds cores",
                      "API cores", "worker hosts", "Redis commands/s", "Redis cores", "Redis GB (3 d)"])
    for d in (100, 1000, 3000, 10000):
        m = model(fig, d)
        c = m["cores"]
        t.add_row(f"{d:,}", f"{m['events_per_s']:,.0f}", f"{c['deliveries']:.1f} ({m['deliveries_processes']})",
                  f"{c['events']:.2f}", f"{c['feeds']:.2f}", f"{c['api']:.2f}", str(m["worker_hosts"]),
                  f"{m['redis_cmds_per_s']:,.0f}", f"{m['redis_cores']:.2f}", f"{m['redis_memory_gb']:,.1f}")
    lim = {days: one_redis_limit(fig, days) for days in (30, 3, 1)}
    t.caption = ("one Redis primary runs out at: CPU " + f"{lim[3]['by_cpu']:,.0f} deliveries/s; memory "
                 f"({REDIS_MEMORY_GB} GB) " + ", ".join(f"{v['by_memory']:,.0f}/s at {k} d retention"
                                                       for k, v in lim.items()))
    return t
