"""/ops runs an incident, in headless Chromium, against a real outage.

A real deliveries worker pushes to a real receiver on 127.0.0.1 that answers 503. The page,
signed in before anything fails, must show the red banner (role=alert) naming the partner by
refreshing itself, let the operator pause and resume the partner (with a confirmation, and
an audit record naming the ops key), show a delivery's attempts with the partner's answer,
offer Replay only where it makes sense, and drop the banner once the partner recovers,
all without a page reload.

`OPS_SCREENSHOT=docs/ops-outage.png pytest tests/integration/test_ops_page_browser.py`
also writes the screenshot taken during the outage there (docs/how-to/operate.md shows it).
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

import pytest

from syndication.ops import audit
from tests.conftest import OPS_KEY
from tests.integration.test_push import post, status_is
from tests.support.browser import chromium
from tests.support.events import article_event
from tests.support.processes import ROOT, wait_for
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration
REFRESH = 5  # seconds between the page's refreshes (ops_html.REFRESH_MS)
PARTNER = "outage"


@contextmanager
def chromium_page(service, width: int = 1500):
    """A signed-in /ops page in Debian's headless Chromium; yields (page, console messages)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = chromium(pw)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1100})
            # Every CSP violation of each document, as the browser reports it (an init script is the
            # browser's own, not the page's: the CSP does not apply to it).
            page.add_init_script("window.cspViolations = []; document.addEventListener('securitypolicyviolation', "
                                 "e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));")
            console: list[str] = []
            page.on("console", lambda msg: console.append(msg.text))
            page.goto(f"{service.api_url}/ops")
            page.fill("input[name=key]", OPS_KEY)
            page.click("text=Sign in")
            page.wait_for_selector("#partners-table")
            yield page, console
        finally:
            browser.close()


def banner_text(page) -> str:
    alerts = page.locator("[role=alert]")
    return " ".join(alerts.all_inner_texts()) if alerts.count() else ""


def partner_row(page, pid: str):
    return page.locator("#partners-table tbody tr").filter(has=page.locator(f"td:first-child b:text-is('{pid}')"))


@pytest.fixture
def outage(service):
    receiver = service.partners[PARTNER]
    receiver.default = Reply(503, body=b'{"error":"upstream <b>down</b> for maintenance"}')
    yield receiver
    receiver.default = Reply()
    service.ctx.redis.delete(service.ctx.keys.partner_paused(PARTNER))


def test_the_ops_page_runs_an_outage_without_reloading(service, unique, tmp_path, outage):
    ctx = service.ctx
    aids = [f"outage{i}-{unique}" for i in range(3)]
    with chromium_page(service) as (page, console):
        loads = []
        page.on("load", lambda _: loads.append(page.url))  # a full page load; pushState is none
        page.evaluate("window.loadedOnce = true")  # gone if the page ever reloads
        assert PARTNER not in banner_text(page)

        # The outage starts after the page was loaded: only its own refresh can show it.
        for aid in aids:
            post(service, article_event(aid, categories=["Outage"]))
        wait_for(lambda: ctx.redis.hget(ctx.keys.partner_circuit(PARTNER), "state") == b"open", timeout=20,
                 what="the outage partner's circuit open")
        wait_for(lambda: f"partner {PARTNER}" in banner_text(page), timeout=3 * REFRESH,
                 what="the banner names the failing partner")
        assert page.locator("#banner .banner[role=alert]").is_visible()
        assert page.evaluate("getComputedStyle(document.querySelector('#banner .banner')).backgroundColor") \
            == "rgb(176, 0, 32)"  # red
        row = partner_row(page, PARTNER)
        wait_for(lambda: "HTTP 503" in row.inner_text(), timeout=3 * REFRESH, what="the partner's last failure shown")

        # Pause asks first: dismissed, nothing happens; accepted, the partner is paused and it is audited.
        page.once("dialog", lambda dialog: dialog.dismiss())
        row.locator("button[name=pause]").click()
        assert not ctx.redis.exists(ctx.keys.partner_paused(PARTNER))
        asked = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        row.locator("button[name=pause]").click()
        page.wait_for_selector(f"text=paused {PARTNER}")
        assert asked and PARTNER in asked[0]
        assert ctx.redis.exists(ctx.keys.partner_paused(PARTNER))
        mine = [a for a in audit.recent(ctx, 20) if a["action"] == "pause" and a["target"] == PARTNER]
        assert mine and mine[0]["actor"] == "ops key 1"
        assert page.locator("#audit-table tr", has_text="pause").first.is_visible()
        page.once("dialog", lambda dialog: dialog.accept())
        partner_row(page, PARTNER).locator("button[name=resume]").click()
        page.wait_for_selector(f"text=resumed {PARTNER}")
        assert not ctx.redis.exists(ctx.keys.partner_paused(PARTNER))
        page.evaluate("window.loadedOnce = true")
        loads.clear()

        # A retrying delivery offers Replay; its attempts open in place with the partner's answer, escaped.
        failing = page.locator("#failures-table tbody tr", has_text=PARTNER).first
        page.wait_for_selector(f"#failures-table tbody tr:has-text('{PARTNER}') button[name=replay]",
                               timeout=3 * REFRESH * 1000)
        failing.locator("a[data-detail]").click()
        page.wait_for_selector("#attempts")
        assert "upstream <b>down</b> for maintenance" in page.locator("#attempts").inner_text()
        assert page.locator("#attempts b").count() == 0  # the partner's markup is text, not HTML
        assert "delivery=" in page.url and not loads, loads  # pushState, no page load

        shot = tmp_path / "ops-outage.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("OPS_SCREENSHOT"):
            shutil.copy(shot, ROOT / os.environ["OPS_SCREENSHOT"])

        # Recovery: the banner goes by itself, the page was never reloaded.
        outage.default = Reply()
        for aid in aids:
            wait_for(lambda aid=aid: status_is(service, aid, PARTNER, "delivered"), timeout=30,
                     what=f"{aid} delivered after recovery")
        wait_for(lambda: PARTNER not in banner_text(page), timeout=3 * REFRESH,
                 what="the banner no longer names the recovered partner")
        assert page.evaluate("window.loadedOnce === true") and not loads, loads
        assert "NOT refreshing" not in page.locator("#live").inner_text()

        # Recovered deliveries stay in Recent failures, delivered, with no Replay; so does the article search.
        recovered = page.locator("#failures-table tbody tr", has_text=aids[0]).filter(has_text=PARTNER)
        wait_for(lambda: recovered.count() == 1 and "delivered" in recovered.inner_text(), timeout=3 * REFRESH,
                 what="the recovered delivery listed as delivered")
        delivered = page.locator("#failures-table tbody tr", has_text="delivered")
        assert delivered.count() >= 1 and delivered.locator("button[name=replay]").count() == 0
        page.goto(f"{service.api_url}/ops?article={aids[0]}")
        rows = page.locator("#article-deliveries tbody tr")
        assert rows.count() >= 1 and "delivered" in rows.first.inner_text()
        assert rows.locator("button[name=replay]").count() == 0
        # The incident is history, not forgotten: start, end, deliveries affected.
        incident = page.locator("#incidents-table tbody tr", has_text=PARTNER).first
        assert incident.is_visible() and "ongoing" not in incident.inner_text()
    assert shot.stat().st_size > 20_000
    assert not [c for c in console if "Content Security Policy" in c or "Uncaught" in c], console
    print(f"\nops outage screenshot: {shot}")


def test_dead_letters_are_replayed_and_discarded_from_the_page(service, unique):
    """Discard one dead letter from its row, replay the partner's other dead letters with its button."""
    ctx = service.ctx
    receiver = service.partners["opsdead"]
    aids = [f"pagedead{i}-{unique}" for i in range(3)]
    receiver.script([Reply(400, body=b'{"error":"schema"}')] * len(aids))
    for aid in aids:
        post(service, article_event(aid, categories=["OpsDead"]))
    dead = [wait_for(lambda aid=aid: status_is(service, aid, "opsdead", "dead"), what=f"{aid} dead") for aid in aids]
    with chromium_page(service) as (page, console):
        row = page.locator("#dead-letters tbody tr", has_text=dead[0]["id"])
        assert row.locator("button[name=replay]").count() == 1
        page.once("dialog", lambda dialog: dialog.accept())
        row.locator("button[name=discard]").click()
        page.wait_for_selector(f"text=discarded {dead[0]['id']}")
        assert page.locator("#dead-letters tbody tr", has_text=dead[0]["id"]).count() == 0
        # The partner's button replays every dead letter it has (ours, and any an earlier test left).
        replay_all = partner_row(page, "opsdead").locator("button[name=replay-all]")
        assert replay_all.inner_text().startswith("Replay ")
        page.once("dialog", lambda dialog: dialog.accept())
        replay_all.click()
        page.wait_for_selector("text=dead letters of opsdead")
        assert partner_row(page, "opsdead").locator("button[name=replay-all]").count() == 0
    for d in dead[1:]:
        wait_for(lambda d=d: status_is(service, d["article_id"], "opsdead", "delivered"), what="replayed, delivered")
    assert status_is(service, dead[0]["article_id"], "opsdead", "discarded")
    assert not [r for r in receiver.for_article(aids[0])[1:]]  # discarded: never sent again
    actions = {(a["action"], a["target"]) for a in audit.recent(ctx, 10) if a["actor"] == "ops key 1"}
    assert ("discard", dead[0]["id"]) in actions and ("replay", "partner opsdead") in actions
    assert not [c for c in console if "Content Security Policy" in c or "Uncaught" in c], console


INLINE_CODE = """[...document.querySelectorAll('*')].filter(el => el.matches('script:not([src]), style, [style]')
    || [...el.attributes].some(a => a.name.startsWith('on') || /^\\s*javascript:/i.test(a.value)))
    .map(el => el.outerHTML.slice(0, 80))"""


def test_the_csp_blocks_inline_script_and_the_page_reads_in_a_narrow_window(service):
    """The page runs on its own script and style (from /static) with no CSP violation; a script or
    handler injected into it does not run; at phone width only the tables scroll sideways."""
    with chromium_page(service, width=380) as (page, console):
        wait_for(lambda: page.locator("#live").inner_text().startswith("live"), timeout=3 * REFRESH,
                 what="ops.js refreshed the page (script-src 'self' lets our file run)")
        assert page.evaluate("getComputedStyle(document.querySelector('th')).backgroundColor") == "rgb(243, 243, 243)"
        assert page.evaluate("window.cspViolations") == []
        assert page.evaluate(INLINE_CODE) == []  # nothing in our HTML the CSP would have to block

        # Injected as an attacker's markup would be: none of it runs, and the browser says why.
        page.evaluate("""() => {
            const s = document.createElement('script');
            s.textContent = 'window.ranScript = true';
            document.body.appendChild(s);
            document.body.insertAdjacentHTML('beforeend',
                '<button id=evil onclick="window.ranHandler = true">x</button><p id=styled style="color: rgb(1, 2, 3)">x</p>');
            document.getElementById('evil').click();
        }""")
        wait_for(lambda: len(page.evaluate("window.cspViolations")) >= 3, timeout=5,
                 what="the browser reported the three blocked injections")
        assert page.evaluate("[window.ranScript, window.ranHandler]") == [None, None]
        assert page.evaluate("getComputedStyle(document.getElementById('styled')).color") != "rgb(1, 2, 3)"
        blocked = " ".join(page.evaluate("window.cspViolations"))
        assert "script-src" in blocked and "style-src" in blocked, blocked

        # Narrow: the page never scrolls sideways; the wide partners table scrolls inside its box.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
            page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert page.evaluate("(b => b.scrollWidth > b.clientWidth)(document.querySelector('#partners-table').parentElement)")
        assert page.locator("input[name=article]").is_visible()
    assert not [c for c in console if "Uncaught" in c], console
