"""/portal in Debian's headless Chromium: a partner follows a failure of its own to the end.

portal-a signs in with its pull token, sees its failing delivery's attempts (its own 503 answer,
as text), replays the dead letter and watches it become delivered without reloading, and sends
a test push whose signed request it can read back. portal-b, signed in beside it, sees none of
portal-a's data, on the page or through the JSON the page fetches.

`PORTAL_SCREENSHOT=docs/portal.png pytest tests/integration/test_portal_browser.py` also writes
the screenshot taken after the test push there (docs/how-to/operate.md shows it).
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

import pytest

from tests.support.browser import chromium
from tests.support.portal import TOKEN_A, TOKEN_B, dead_letter
from tests.support.processes import ROOT, wait_for

pytestmark = pytest.mark.integration
REFRESH = 5  # seconds between the page's refreshes (ops_html.REFRESH_MS)


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = chromium(pw)
        try:
            yield b
        finally:
            b.close()


def signed_in(b, service, token: str):
    page = b.new_page(viewport={"width": 1300, "height": 1000})
    page.add_init_script("window.cspViolations = []; document.addEventListener('securitypolicyviolation', "
                         "e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));")
    page.goto(f"{service.api_url}/portal")
    page.fill("input[name=token]", token)
    page.click("button:text-is('Sign in')")
    page.wait_for_selector("#health")
    return page


def test_a_partner_replays_its_dead_letter_and_sends_a_test_push(service, unique, tmp_path):
    aid = f"portal-browser-{unique}"
    dead = dead_letter(service, "portal-a", "PortalA", aid)
    with browser() as b:
        page = signed_in(b, service, TOKEN_A)
        assert page.locator("#who").inner_text() == "portal-a"
        row = page.locator(f"#dead-letters-table tr[data-delivery='{dead['id']}']")
        assert row.is_visible() and "dead" in row.inner_text()

        # Its attempts, with its own answer as text (the markup is not rendered).
        row.locator("a[data-detail]").click()
        page.wait_for_selector("#attempts")
        attempts = page.locator("#attempts tbody tr")
        assert attempts.count() == 2 and "503" in attempts.first.inner_text()
        assert "<b>maintenance</b> until noon" in page.locator("#attempts").inner_text()
        assert page.locator("#attempts b").count() == 0
        # ... and exactly what the last attempt sent, to re-check its signature with.
        sent = page.locator("#last-request").inner_text()
        assert "attempt 2" in sent and "webhook-signature: v1," in sent and f'"id": "{aid}"' in sent.replace('":"', '": "')

        # Replay (asked first), then watch it become delivered: the page refreshes itself.
        page.goto(f"{service.api_url}/portal?article={aid}")
        page.evaluate("window.loadedOnce = true")
        asked = []
        page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
        page.locator(f"#dead-letters-table tr[data-delivery='{dead['id']}'] button[name=replay]").click()
        page.wait_for_selector(f"text=replayed {dead['id']}")
        assert asked and dead["id"] in asked[0]
        page.evaluate("window.loadedOnce = true")  # the redirect after the form was a load; none after it
        mine = page.locator(f"#deliveries-table tr[data-delivery='{dead['id']}']")
        wait_for(lambda: "delivered" in mine.inner_text(), timeout=4 * REFRESH, what="the replay shown delivered")
        assert page.evaluate("window.loadedOnce === true")
        assert page.locator(f"#dead-letters-table tr[data-delivery='{dead['id']}']").count() == 0

        # A test push: the result, and exactly what was sent, signed.
        page.click("button[name=test-push]")
        page.wait_for_selector("#test-push-result")
        result = page.locator("#test-push-result").inner_text()
        assert "HTTP 200" in result and "webhook-signature: v1," in result and "Test push from syndication" in result
        assert page.locator("#signing .key-id").count() == 1 and "import { Webhook }" in \
            page.locator("#snippet-node").inner_text()
        assert page.evaluate("window.cspViolations") == []
        shot = tmp_path / "portal.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("PORTAL_SCREENSHOT"):
            shutil.copy(shot, ROOT / os.environ["PORTAL_SCREENSHOT"])

        # portal-b, in a browser beside it: none of portal-a's data, on the page or in its JSON.
        other = signed_in(b, service, TOKEN_B)
        assert other.locator("#who").inner_text() == "portal-b"
        for query in ("", f"?article={aid}", f"?delivery={dead['id']}"):
            other.goto(f"{service.api_url}/portal{query}")
            assert other.locator(f"tr[data-delivery='{dead['id']}']").count() == 0
            assert "maintenance" not in other.content() and "portal-a" not in other.locator("body").inner_text()
            seen = other.evaluate("q => fetch('/portal/state.json' + q).then(r => r.text())", query)
            assert dead["id"] not in seen.replace(f"delivery={dead['id']}", "") and "maintenance" not in seen
            assert '"partner":"portal-b"' in seen
