/* portal.js: the partner portal's own script (ops.js, shared with /ops, refreshes the live
   sections and asks before a confirmed form). Served by us; the CSP allows no inline script.
   A "Copy" button puts the verification snippet it names (data-copy: an element id) on the
   clipboard, and says so. */
"use strict";
(function () {
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("button[data-copy]") : null;
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(source.textContent).then(function () {
      button.textContent = "Copied";
    }, function () {
      button.textContent = "Select the text to copy";
    });
  });
})();
