"""Settings are immutable, versioned snapshots: a reload publishes a new one, a batch keeps the one it took.

Pure logic (no Redis is contacted: a Context is given a placeholder client).
"""

from __future__ import annotations

import inspect
from dataclasses import FrozenInstanceError, replace

import pytest

from syndication.configuration import load_settings, reread
from syndication.infra.context import Context
from syndication.ops import housekeeping, reload


def partners_file(tmp_path, ids):
    path = tmp_path / "partners.yaml"
    path.write_text("partners:\n" + "".join(
        f"  - {{id: {pid}, url: 'http://127.0.0.1:9/{pid}', allow_private_network: true,"
        f" auth: {{type: bearer, token_env: TOKEN}}}}\n" for pid in ids))
    return path


def test_a_snapshot_cannot_be_changed():
    settings = load_settings({})
    with pytest.raises(FrozenInstanceError):
        settings.partners = ()
    assert settings.version == 0


def test_a_pinned_batch_keeps_its_snapshot_while_a_reload_publishes_the_next():
    ctx = Context(load_settings({}), redis=object())
    batch = ctx.pinned()
    first = batch.settings
    assert not batch.outdated and batch.pinned() is batch
    ctx.publish(replace(ctx.settings, version=1, render_window=9.0))
    assert ctx.settings.version == 1 and ctx.settings.render_window == 9.0  # the process sees the new one
    assert batch.settings is first and batch.settings.render_window == 1.0  # the batch keeps its own
    assert batch.outdated  # and knows a newer one exists (push.py gives the rest back)
    assert not ctx.pinned().outdated


def test_a_snapshot_is_published_once_and_never_moves_the_process_to_another_redis():
    ctx = Context(load_settings({}), redis=object())
    with pytest.raises(ValueError, match="already published"):
        ctx.publish(replace(ctx.settings, render_window=9.0))  # same version: a batch could not tell
    with pytest.raises(ValueError, match="another Redis or key prefix"):
        ctx.publish(replace(ctx.settings, version=1, key_prefix="other:"))
    assert ctx.settings.version == 0


def test_a_reload_reads_the_files_again_with_the_environment_the_process_started_with(tmp_path):
    env = {"SYNDICATION_PARTNERS_FILE": str(partners_file(tmp_path, ["wire"])), "TOKEN": "s3cret-token"}
    settings = load_settings(env)
    env["TOKEN"] = "changed later"  # the snapshot copied the environment: nothing outside changes it
    partners_file(tmp_path, ["wire", "desk"])
    newer = reread(settings, version=4)
    assert newer.version == 4 and [p.id for p in newer.partners] == ["wire", "desk"]
    assert newer.secrets_for("desk")["token_env"].value == "s3cret-token"
    assert [p.id for p in settings.partners] == ["wire"]  # the old snapshot is as it was
    assert "s3cret-token" not in repr(settings) + repr(settings.source)


def test_no_raw_environment_is_handed_to_reloads_or_housekeeping():
    for fn in (reload.request, reload.follow, housekeeping.start, housekeeping.run):
        assert not {"env", "environ"} & set(inspect.signature(fn).parameters), fn.__qualname__
