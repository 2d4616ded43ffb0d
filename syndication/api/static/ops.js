/* ops.js, the script of /ops and of the partner portal (which names its state in data-state-url):
   served as a static file by us (no build step, no CDN), and
   allowed by the page's Content-Security-Policy (script-src 'self': no inline script or handler).

   It does three things, and the page works without it (a plain report with forms):
   - every refresh period (the body's data-refresh-ms) it fetches /ops/state.json for the same
     view (the page's query string) and swaps in the sections whose HTML changed: no reload, no
     flicker, scroll kept;
   - a form with data-confirm asks first (window.confirm); the server still wants the CSRF token;
   - a delivery link opens its attempts in the detail section without leaving the page.
   If a refresh fails, the line beside the clock says so in red: a stale page never looks live. */
"use strict";
(function () {
  var PERIOD = Number(document.body.getAttribute("data-refresh-ms")) || 5000;
  // Where the live sections come from: /ops's, or the page's own (the partner portal's).
  var STATE_URL = document.body.getAttribute("data-state-url") || "/ops/state.json";
  var seen = {}, busy = false, again = false;

  function say(text, bad) {
    var live = document.getElementById("live");
    if (live) { live.textContent = text; live.className = bad ? "stale" : "muted"; }
  }

  function apply(state) {
    Object.keys(state.sections).forEach(function (id) {
      var html = state.sections[id], el = document.getElementById(id);
      if (el && seen[id] !== html) { el.innerHTML = html; seen[id] = html; }
    });
  }

  function refresh(then) {
    if (busy) { again = true; return; }
    busy = true;
    fetch(STATE_URL + location.search, {credentials: "same-origin", cache: "no-store",
                                                 headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.status === 401) { throw new Error("signed out: reload the page to sign in again"); }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (state) {
        apply(state);
        say("live: refreshes every " + PERIOD / 1000 + " s", false);
        if (then) { then(); }
      })
      .catch(function (err) { say("NOT refreshing (" + err.message + "): what you see may be old", true); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  document.addEventListener("submit", function (ev) {
    var ask = ev.target.getAttribute("data-confirm");
    if (ask && !window.confirm(ask)) { ev.preventDefault(); }
  });

  document.addEventListener("click", function (ev) {
    var link = ev.target.closest ? ev.target.closest("a[data-detail]") : null;
    if (!link || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey) { return; }
    ev.preventDefault();
    history.pushState(null, "", link.getAttribute("href"));
    refresh(function () {
      var box = document.getElementById("detail");
      if (box) { box.scrollIntoView({block: "start"}); }
    });
  });

  window.addEventListener("popstate", function () { refresh(); });
  setInterval(refresh, PERIOD);
})();
