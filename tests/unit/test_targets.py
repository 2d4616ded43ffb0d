"""Targets and partners: where pushes go is a Target; a partner has one, and system targets are no partners.

Pure logic: settings from a dict and a partners file in a temporary directory.
"""

from __future__ import annotations

import pytest

from syndication.configuration import load_settings
from syndication.errors import ConfigError
from syndication.partners.registry import Partner
from syndication.partners.target import OPS_WEBHOOK, WEBSUB_HUB, Target


def settings_with(tmp_path, entries: str, **env):
    path = tmp_path / "partners.yaml"
    path.write_text("partners:\n" + entries)
    return load_settings({"SYNDICATION_PARTNERS_FILE": str(path), **env})


WIRE = "  - {id: wire, url: 'http://127.0.0.1:9/in', allow_private_network: true, max_in_flight: 4, format: rss}\n"


def test_the_hub_and_the_ops_webhook_are_targets_not_partners(tmp_path):
    s = settings_with(tmp_path, WIRE, SYNDICATION_WEBSUB_HUB="http://127.0.0.1:9/hub",
                      SYNDICATION_OPS_WEBHOOK_URL="http://127.0.0.1:9/ops", SYNDICATION_OPS_WEBHOOK_SECRET="whsec_eA==")
    assert [t.id for t in s.targets] == ["wire", WEBSUB_HUB, OPS_WEBHOOK]
    assert all(isinstance(t, Target) for t in s.targets)
    assert s.partner(WEBSUB_HUB) is None and s.partner(OPS_WEBHOOK) is None  # no partner lookup finds them
    assert [p.id for p in s.partners] == ["wire"]
    assert s.target(WEBSUB_HUB).url == "http://127.0.0.1:9/hub" and s.target(OPS_WEBHOOK).auth.type == "standard-webhooks"
    assert s.secrets_for(OPS_WEBHOOK)["secret_env"].value == "whsec_eA=="
    assert not hasattr(s.target(WEBSUB_HUB), "format") and not hasattr(s.target(WEBSUB_HUB), "filters")


def test_a_partner_gathers_its_flat_target_keys_and_keeps_its_own(tmp_path):
    wire = settings_with(tmp_path, WIRE).partner("wire")
    assert (wire.format, wire.target.max_in_flight, wire.target.url) == ("rss", 4, "http://127.0.0.1:9/in")
    assert not hasattr(wire, "url") and not hasattr(wire, "max_in_flight")  # transport is the target's
    disabled = Partner(id="d", url="http://127.0.0.1:9/in", allow_private_network=True, enabled=False)
    assert disabled.target.enabled is False and not disabled.pushes  # nothing is claimed for it
    assert Partner(id="p", pull={"token_env": "T"}).target is None  # pull only: no target


@pytest.mark.parametrize("reserved", [WEBSUB_HUB, OPS_WEBHOOK])
def test_no_partner_takes_a_system_targets_id(tmp_path, reserved):
    with pytest.raises(ConfigError, match=f"partner id '{reserved}' is reserved"):
        settings_with(tmp_path, f"  - {{id: {reserved}, url: 'https://p.example/in'}}\n")


def test_a_bad_target_key_is_named_as_the_file_writes_it(tmp_path):
    with pytest.raises(ConfigError, match=r"\(wire\): timeouts\.read: "):
        settings_with(tmp_path, "  - {id: wire, url: 'https://p.example/in', timeouts: {read: 0}}\n")
    with pytest.raises(ConfigError, match=r"max_in_flight: needs url"):
        settings_with(tmp_path, "  - {id: puller, max_in_flight: 3, pull: {token_env: T}}\n", T="x")
