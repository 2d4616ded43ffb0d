"""The partners and feeds the integration tests run against.

Every scenario partner has its own receiver and a category filter of its
own, so a test's articles reach only the partner it is about.
"""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from tests.support.receiver import Receiver


def secret(seed: str) -> str:
    return "whsec_" + base64.b64encode(f"{seed}-secret-key-0123456789".encode()).decode()


SECRETS = {
    "PARTNER_A_SECRET": secret("partner-a"),
    "ROTATING_SECRET": f"{secret('old')} {secret('new')}",
    "NINJS_SECRET": secret("ninjs"),
    "ATOM_TOKEN": "atom-bearer-token",
    "RSS_PASSWORD": "rss-password",
    "NEWSML_SECRET": secret("newsml"),
    "NEWSML_PULL_TOKEN": "newsml-pull-token",
    "PORTAL_A_SECRET": secret("portal-a"),
    "PORTAL_A_TOKEN": "portal-a-pull-token",
    "PORTAL_B_TOKEN": "portal-b-pull-token",
}
FAST_RETRY = {"base_delay": 0.2, "max_delay": 0.5}

SCENARIOS = {
    # id: (format, categories, extra settings)
    "fmt-ninjs": ("ninjs", ["FormatTest"], {"auth": {"type": "standard-webhooks", "secret_env": "NINJS_SECRET"}}),
    "fmt-ninjs3": ("ninjs3", ["FormatTest"], {}),
    "fmt-atom": ("atom", ["FormatTest"], {"auth": {"type": "bearer", "token_env": "ATOM_TOKEN"}}),
    "fmt-rss": ("rss", ["FormatTest"], {"auth": {"type": "basic", "username": "rss-user",
                                                  "password_env": "RSS_PASSWORD"}}),
    "fmt-newsml": ("newsml-g2", ["NewsmlTest"], {"auth": {"type": "standard-webhooks", "secret_env": "NEWSML_SECRET"},
                                                 "pull": {"token_env": "NEWSML_PULL_TOKEN"}}),
    "rotating": ("json", ["Rotation"], {"auth": {"type": "standard-webhooks", "secret_env": "ROTATING_SECRET"}}),
    "flaky": ("json", ["Flaky"], {"retry": FAST_RETRY}),
    "throttled": ("json", ["Throttled"], {"retry": FAST_RETRY}),
    "rejecting": ("json", ["Rejecting"], {"retry": FAST_RETRY}),
    "gone": ("json", ["Gone"], {"retry": FAST_RETRY}),
    "fixable": ("json", ["Fixable"], {"retry": {**FAST_RETRY, "max_attempts": 2}}),
    "ordering": ("json", ["Ordering"], {"retry": {"base_delay": 4, "max_delay": 4}}),
    "withdrawing": ("json", ["Withdrawing"], {"retry": {"base_delay": 30, "max_delay": 30}}),
    "hanging": ("json", ["Hanging"], {"timeouts": {"connect": 1, "read": 1}, "breaker_threshold": 2,
                                      "breaker_cooldown": 3, "retry": FAST_RETRY, "max_in_flight": 1}),
    "pausable": ("json", ["Pausable"], {}),
    "failing": ("json", ["Failing"], {"breaker_threshold": 2, "breaker_cooldown": 600, "retry": FAST_RETRY}),
    "opsdead": ("json", ["OpsDead"], {"retry": FAST_RETRY}),
    # tests/integration/test_metrics_alerts.py: fails for its alert test (and stays open), nobody else's.
    "alerting": ("json", ["Alerting"], {"breaker_threshold": 2, "breaker_cooldown": 600, "retry": FAST_RETRY}),
    # Embargoes (test_embargo.py): one article reaches both; `send` gets it at once, marked, in ninjs.
    "embargo-hold": ("json", ["Embargo"], {}),
    "embargo-send": ("ninjs", ["Embargo"], {"embargo": "send"}),
    # /ops during an outage (test_ops_page_browser.py): opens at once, probes every second.
    "outage": ("json", ["Outage"], {"breaker_threshold": 2, "breaker_cooldown": 1, "retry": FAST_RETRY}),
    # The partner portal (test_portal*.py): two partners signing in with their pull tokens; a's
    # deliveries die after two quick attempts (dead letters to replay), its circuit never opens.
    "portal-a": ("json", ["PortalA"], {"auth": {"type": "standard-webhooks", "secret_env": "PORTAL_A_SECRET"},
                                       "pull": {"token_env": "PORTAL_A_TOKEN"}, "breaker_threshold": 100,
                                       "retry": {**FAST_RETRY, "max_attempts": 2}}),
    "portal-b": ("json", ["PortalB"], {"pull": {"token_env": "PORTAL_B_TOKEN"}}),
}


def write(tmp: Path, receivers: dict[str, Receiver]) -> tuple[Path, Path]:
    partners = [
        {"id": "partner-a", "url": receivers["partner-a"].url, "format": "json",
         "auth": {"type": "standard-webhooks", "secret_env": "PARTNER_A_SECRET"},
         "filters": {"categories": [], "feeds": []},
         "timeouts": {"connect": 2, "read": 5}, "allow_private_network": True,
         "retry": FAST_RETRY, "breaker_cooldown": 2},
        {"id": "economy-desk", "url": receivers["economy-desk"].url, "format": "json",
         "filters": {"feeds": ["economy"]}, "allow_private_network": True},
        # Loopback without allow_private_network: every push must be refused.
        {"id": "private", "url": receivers["private"].url, "format": "json",
         "filters": {"categories": ["Private"]}},
    ]
    for pid, (fmt, cats, extra) in SCENARIOS.items():
        partners.append({"id": pid, "url": receivers[pid].url, "format": fmt, "filters": {"categories": cats},
                         "allow_private_network": True, **extra})
    # partner-a hears about everything except the scenario categories (keeps its request log small).
    partners_file, feeds_file = tmp / "partners.yaml", tmp / "feeds.yaml"
    partners_file.write_text(yaml.safe_dump({"partners": partners}, allow_unicode=True))
    feeds_file.write_text(yaml.safe_dump({"feeds": [
        {"name": "all", "title": "All news", "description": "Everything", "language": "en"},
        {"name": "economy", "title": "Economy", "filters": {"categories": ["Economy"]}},
        {"name": "kk", "title": "Kazakh", "language": "kk", "filters": {"languages": ["kk"]}},
        {"name": "partners-only", "title": "For partners", "access": "partner"},
        *({"name": f"burst-{x}", "title": f"Burst {x}", "filters": {"categories": [f"Burst{x}"]}} for x in "abc"),
    ]}, allow_unicode=True))
    return partners_file, feeds_file


def receiver_names() -> list[str]:
    return ["partner-a", "economy-desk", "private", "hub", *SCENARIOS]
