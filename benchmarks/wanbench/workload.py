"""What the WAN benchmark sends and to whom: scenarios, partner profiles, the partners file, events.

A scenario is a set of partners, each with a profile the receiver plays (harness/wan_partner.py),
and a shape: `fanout` (events one at a time, each to every partner: the breaking story),
`steady` (events at a fixed rate) or `crowd` (a stream to healthy, slow and hanging partners,
then a breaking story). Everything here is a pure function of its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from benchmarks.pushbench.workload import CATEGORY, SECRET_ENV, make_event  # noqa: F401 (re-exported)

# Profiles the receiver plays (wan_partner.py's fields).
FIXED_100 = {"rtt_ms": 100}
FIXED_200 = {"rtt_ms": 200}
# A partner as they come: 100 ms away, 250 +- 50 ms of server time, 1 % 5xx, 0.1 % hanging.
REAL = {"rtt_ms": 100, "server_ms": 250, "jitter_ms": 50, "p5xx": 0.01, "phang": 0.001}
HEALTHY = {"rtt_ms": 100}
SLOW = {"rtt_ms": 100, "server_ms": 150}
HANGING = {"rtt_ms": 100, "hang": True}


@dataclass
class Scenario:
    key: str  # a, b, c, d, e
    title: str
    shape: str  # fanout | steady | crowd
    partners: list[tuple[str, str]]  # (id, profile name)
    profiles: dict[str, dict]
    tls: bool = False
    events: int = 2  # fanout: events one after another (the first opens the connections: "cold")
    rate: float = 0.0  # steady / crowd: events per second
    seconds: float = 0.0  # steady / crowd: how long
    read_timeout: float = 10.0  # the partners' read timeout (partners file and the baselines)
    designs: tuple[str, ...] = ("raw", "naive", "service")
    notes: list[str] = field(default_factory=list)

    def ids(self, profile: str | None = None) -> list[str]:
        return [p for p, prof in self.partners if profile is None or prof == profile]


def pids(n: int, start: int = 0) -> list[str]:
    return [f"p{i:03d}" for i in range(start, start + n)]


def scenarios(size: dict) -> dict[str, Scenario]:
    """The scenarios at `size` (wan.py's FULL or QUICK: partner counts, events, rates, seconds)."""
    wide, mid = size["wide"], size["mid"]
    crowd = [(p, "healthy") for p in pids(2)] + [(p, "slow") for p in pids(4, 2)] + [(p, "hanging") for p in pids(6, 6)]
    return {
        "a": Scenario("a", f"breaking story: 1 event to {wide} partners, 100 ms round trip", "fanout",
                      [(p, "fixed") for p in pids(wide)], {"fixed": FIXED_100}, events=size["events"]),
        "b": Scenario("b", f"breaking story: 1 event to {mid} partners, 200 ms round trip", "fanout",
                      [(p, "fixed") for p in pids(mid)], {"fixed": FIXED_200}, events=size["events"]),
        "e": Scenario("e", f"partners as they come, over TLS: 1 event to {wide} partners, 100 ms, server time "
                           f"250 +- 50 ms, 1 % 5xx, 0.1 % hanging (read timeout {size['real_read_timeout']:g} s)",
                      "fanout", [(p, "real") for p in pids(wide)], {"real": REAL}, tls=True,
                      events=size["real_events"], read_timeout=size["real_read_timeout"]),
        "c": Scenario("c", f"steady: {size['steady_rate']:g} event/s x {wide} partners, 100 ms, "
                           f"{size['steady_seconds']:g} s", "steady",
                      [(p, "fixed") for p in pids(wide)], {"fixed": FIXED_100}, rate=size["steady_rate"],
                      seconds=size["steady_seconds"]),
        "d": Scenario("d", f"crowd: 2 healthy + 4 slow (+150 ms) + 6 hanging partners (read timeout "
                           f"{size['crowd_read_timeout']:g} s), 100 ms, {size['crowd_rate']:g} events/s for "
                           f"{size['crowd_seconds']:g} s, then a breaking story", "crowd", crowd,
                      {"healthy": HEALTHY, "slow": SLOW, "hanging": HANGING}, rate=size["crowd_rate"],
                      seconds=size["crowd_seconds"], read_timeout=size["crowd_read_timeout"], designs=("service",)),
    }


def write_partners_file(path: Path, sc: Scenario, urls: dict[str, str], ca_pem: str | None = None) -> None:
    """Every partner `format: json`, signed (standard-webhooks), on the benchmark's category only (so a
    warm-up event in another category reaches nobody), `allow_private_network` (10.213.N.2 / 127.0.0.1).
    TLS partners also name the throwaway CA where the partners file has a field for it."""
    import yaml

    ca = ca_entry(ca_pem) if sc.tls and ca_pem else {}
    entries = [{"id": pid, "url": urls[pid], "format": "json",
                "auth": {"type": "standard-webhooks", "secret_env": SECRET_ENV}, "allow_private_network": True,
                "filters": {"categories": [CATEGORY]}, "timeouts": {"connect": 3.0, "read": sc.read_timeout}, **ca}
               for pid, _ in sc.partners]
    path.write_text(yaml.safe_dump({"partners": entries}, sort_keys=False))


def ca_entry(ca_pem: str) -> dict:
    """The partner entry's CA field, if the service has one (`ca_file`, or `tls: {ca_file}`); else {} and
    the CA reaches the service through its environment only (REQUESTS_CA_BUNDLE, SSL_CERT_FILE)."""
    from syndication.partners.registry import Partner

    fields = dict(Partner.model_fields)
    try:  # transport settings moved to the partner's target (flat in the file all the same)
        from syndication.partners.target import Target

        fields.update(Target.model_fields)
    except ImportError:
        pass
    if "ca_file" in fields:
        return {"ca_file": ca_pem}
    tls = fields.get("tls")
    model = getattr(tls, "annotation", None) if tls else None
    if model is not None and "ca_file" in getattr(model, "model_fields", {}):
        return {"tls": {"ca_file": ca_pem}}
    return {}


def event(run: str, i: int, published: datetime) -> tuple[str, bytes]:
    """(article id, body of POST /v1/events) of one new article in the partners' category."""
    aid, _, body = make_event(run, i, published)
    return aid, body


def warmup_event(run: str, published: datetime) -> bytes:
    """An article no partner wants (another category): it goes through the API, the events and feeds
    workers, and pushes nothing, so the service is warm and its connections to partners are not."""
    from benchmarks.harness.articles import event_body, make_article

    art = make_article(0, "Sports", published)
    art["id"] = f"{run}-warmup"
    return event_body(art, f"evt-{art['id']}")
