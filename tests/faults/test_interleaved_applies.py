"""Two applies of one article interleaved, step by step: each version's push must be that version's.

Found by the fault suite (scenario 2, a killed events worker: re-driven applies run beside
the applies of newer versions; the same happens without faults when an article's versions
arrive a few milliseconds apart and the events worker's threads take them together). Here
the interleaving is forced in one process, on a real Redis, with no Celery: the apply of
v2 stores its version (compare-and-set), then the apply of v3 (a withdrawal) stores its
own, then the apply of v2 reads the article back and fans out, then the apply of v3 does.
"""

from __future__ import annotations

import json
import threading

import pytest

from syndication.configuration import load_settings
from syndication.delivery import push, records
from syndication.infra.context import Context
from syndication.pipeline import apply, ingest
from tests.faults.harness import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def _event(aid: str, version: int, *, withdrawn: bool = False) -> dict:
    if withdrawn:
        return {"event_id": f"{aid}-w", "type": "article.withdrawn", "occurred_at": "2026-11-25T10:09:00Z",
                "article": {"id": aid, "version": version, "reason": "interleaving test"}}
    return {"event_id": f"{aid}-v{version}", "type": "article.published" if version == 1 else "article.updated",
            "occurred_at": f"2026-11-25T10:0{version}:00Z",
            "article": {"id": aid, "version": version, "url": f"https://news.example/{aid}", "language": "en",
                        "headline": f"{aid} v{version}", "categories": ["Economy"],
                        "published_at": "2026-11-25T10:00:00Z"}}


def test_a_withdrawal_applied_between_an_updates_store_and_its_fan_out_is_pushed_as_a_withdrawal(tmp_path, monkeypatch):
    cluster = Cluster(tmp_path)  # only its Redis and partners run: the steps are driven from here
    cluster.redis.start()
    try:
        ctx = Context.build(load_settings(cluster.env))
        aid = "interleaved"
        v1, v2, w3 = _event(aid, 1), _event(aid, 2), _event(aid, 3, withdrawn=True)
        for ev in (v1, v2, w3):
            ingest.accept(ctx, json.dumps(ev).encode(), enqueue=lambda follow_up: None)
        apply.apply_event(ctx, v1["event_id"])
        push.push_batch(ctx, "a")  # partner a holds v1: the withdrawal must reach it

        # Order the two applies' steps with the compare-and-set as the seam.
        v2_stored, w3_stored, v2_done = threading.Event(), threading.Event(), threading.Event()
        cas = apply._compare_and_set

        def ordered(ctx, events, now):
            if events[0].event_id == v2["event_id"]:
                result = cas(ctx, events, now)
                v2_stored.set()
                assert w3_stored.wait(10)  # v3 stores before v2 reads the article back
                return result
            assert v2_stored.wait(10)
            result = cas(ctx, events, now)
            w3_stored.set()
            assert v2_done.wait(10)  # v3 reads back and fans out after v2 has
            return result

        monkeypatch.setattr(apply, "_compare_and_set", ordered)
        errors: list[BaseException] = []

        def run(event_id: str, done: threading.Event | None) -> None:
            try:
                apply.apply_event(ctx, event_id)
            except BaseException as exc:  # re-raised below
                errors.append(exc)
            finally:
                if done:
                    done.set()

        threads = [threading.Thread(target=run, args=(v2["event_id"], v2_done)),
                   threading.Thread(target=run, args=(w3["event_id"], None))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        if errors:
            raise errors[0]
        monkeypatch.undo()

        rec = records.get(ctx, records.delivery_id(aid, 3, "a"))
        assert rec is not None, "no delivery of v3 to partner a"
        push.push_batch(ctx, "a")
        got = [json.loads(r.body) for r in cluster.partners["a"].requests]
        assert [(d["article"]["version"], d["type"]) for d in got] == [(1, "article.published"),
                                                                       (3, "article.withdrawn")], got
        assert (rec["event_id"], rec["event_type"]) == (w3["event_id"], "article.withdrawn"), rec
    finally:
        cluster.redis.kill()
        for r in cluster.partners.values():
            r.stop()
