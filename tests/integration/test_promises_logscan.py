"""The log scan itself (tests/support/logscan.py) can fail: it finds each thing logs must never hold.

"Logs never contain secrets or bodies" (docs/how-to/operate.md) is checked by the scan after every
integration test; here a scratch log, registered like a service process's, proves what it catches.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import API_KEY, FEED_KEY, OPS_KEY
from tests.support import config, logscan
from tests.support.events import article_event
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def scratch_log(tmp_path):
    """A log only this test's own LogScan reads (not in processes.LOGS: the suite's scan never sees it)."""
    log = tmp_path / "scratch.log"
    log.write_bytes(b"")
    return log


def line(msg: str, **fields) -> str:
    return json.dumps({"ts": "2026-11-25T00:00:00Z", "level": "info", "logger": "t", "msg": msg, **fields}) + "\n"


def test_the_scan_finds_every_key_secret_body_and_traceback(scratch_log):
    scan = logscan.LogScan({scratch_log: 0})
    signing_key = base64.b64decode(config.SECRETS["PARTNER_A_SECRET"].removeprefix("whsec_")).decode()
    basic = base64.b64encode(f"rss-user:{config.SECRETS['RSS_PASSWORD']}".encode()).decode()
    planted = {
        API_KEY: "SYNDICATION_API_KEYS", OPS_KEY: "SYNDICATION_OPS_KEYS", FEED_KEY: "SYNDICATION_FEED_KEYS",
        config.SECRETS["ROTATING_SECRET"].split()[1]: "$ROTATING_SECRET", config.SECRETS["ATOM_TOKEN"]: "$ATOM_TOKEN",
        signing_key: "decoded HMAC key", basic: "basic auth",
    }
    with open(scratch_log, "a") as fh:
        fh.write(line("fine", event_id="evt-1", partner="partner-a"))
        for secret in planted:
            fh.write(line(f"header Authorization: Bearer {secret}"))
        fh.write(line("body", detail="<p>Trains run every seven minutes between the airport and the railway station.</p>"))
        fh.write(line("marker", detail=f"x {logscan.BODY_MARKER} y"))
        fh.write(line("boom", error='Traceback (most recent call last):\n  File "x.py", line 1\nKeyError: \'a\''))
        fh.write('Traceback (most recent call last):\n  File "y.py", line 2, in f\nValueError: raw\n')
        fh.write(line("partial, not yet a whole line", event_id="evt-2")[:-1])
    found = scan.check()
    kinds = [f.kind for f in found]
    assert kinds.count("secret") == len(planted) and kinds.count("body") == 2 and kinds.count("traceback") == 2, found
    assert all(scratch_log == f.log for f in found)
    for secret, what in planted.items():
        assert any(what in f.what for f in found if f.kind == "secret"), what
        assert secret not in logscan.report(found)  # the report masks what it found
    assert "ValueError: raw" in logscan.report(found) and "KeyError" in logscan.report(found)
    assert scan.check() == []  # each byte is read once


def test_an_expected_traceback_passes_only_if_it_is_the_one_expected(scratch_log):
    scan = logscan.LogScan({scratch_log: 0})
    with open(scratch_log, "a") as fh:
        fh.write(line("boom", error='Traceback (most recent call last):\n  File "x.py"\nKeyError: \'a\''))
    assert scan.check(expected_tracebacks=("KeyError",)) == []
    with open(scratch_log, "a") as fh:
        fh.write(line("boom", error='Traceback (most recent call last):\n  File "x.py"\nValueError: b'))
    assert [f.kind for f in scan.check(expected_tracebacks=("KeyError",))] == ["traceback"]
    with open(scratch_log, "a") as fh:
        fh.write(line("boom", error='Traceback (most recent call last):\n  File "x.py"\nValueError: b'))
        fh.write(line("key", detail=OPS_KEY))
    assert [f.kind for f in scan.check(expected_tracebacks=())] == ["secret"]  # any traceback, never a key


@pytest.mark.expect_traceback("cannot prepare delivery", reason="a push its format cannot render is logged with "
                              "its traceback (push._send_all), then dead-lettered")
def test_a_push_its_format_cannot_render_is_a_dead_letter_and_its_traceback_is_expected(service, unique):
    """Data stored by an older version, without a headline: the atom format cannot render it. The
    traceback in the deliveries worker's log is this test's doing, so the marker allows it (only it)."""
    import time

    from syndication.articles import ArticleStore
    from syndication.delivery import records
    from syndication.delivery.model import ARTICLE, Subject

    ctx, aid = service.ctx, f"unrenderable-{unique}"
    data = {k: v for k, v in article_event(aid)["article"].items() if k != "headline"}
    ArticleStore.of(ctx).apply(aid, 1, data, withdrawn=False, event_id=f"evt-{aid}", now=time.time())
    did = records.create(ctx, "fmt-atom", Subject(ARTICLE, aid, 1), f"evt-{aid}", "article.published")
    assert did is not None  # due now: the sweeper kicks the partner within a second
    rec = wait_for(lambda: (r := records.get(ctx, did)) and r["status"] == "dead" and r, timeout=20,
                   what="a dead letter, not a stuck batch")
    assert rec["last_error"].startswith("cannot render atom") and "headline" in rec["last_error"]
    assert service.partners["fmt-atom"].for_article(aid) == []
