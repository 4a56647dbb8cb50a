// The console's own script: live countdowns to a pending sync, times in
// the reader's time zone, and the background modal. Pages work without it;
// htmx (loaded before it) does the live updates and partial swaps.
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // "in 4:59", "in 1:02:03", or "now" once the time has come.
  function countdown(el) {
    var due = Date.parse(el.getAttribute("data-countdown"));
    if (isNaN(due)) { return; }
    var left = Math.round((due - Date.now()) / 1000);
    var text;
    if (left <= 0) {
      text = "now";
    } else {
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      text = "in " + (h > 0 ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
    }
    if (el.textContent !== text) { el.textContent = text; }
  }

  function localTime(el) {
    if (el.hasAttribute("data-localised")) { return; }
    var at = new Date(el.getAttribute("datetime"));
    if (isNaN(at.getTime())) { return; }
    el.textContent = at.toLocaleString();
    el.setAttribute("data-localised", "");
  }

  function refresh(root) {
    root.querySelectorAll("[data-countdown]").forEach(countdown);
    root.querySelectorAll("time[data-local]").forEach(localTime);
  }

  // The modal opens once: `?background=1` leaves the address, so a reload
  // or a shared link shows the page without it.
  function openModals() {
    document.querySelectorAll("dialog[data-open-modal]").forEach(function (dialog) {
      if (!dialog.open && typeof dialog.showModal === "function") { dialog.showModal(); }
    });
    var url = new URL(window.location.href);
    if (url.searchParams.has("background")) {
      url.searchParams.delete("background");
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    refresh(document);
    openModals();
    setInterval(function () { refresh(document); }, 1000);
  });
  // Content swapped in by htmx (live status, search results) gets the same.
  document.addEventListener("htmx:afterSwap", function (event) { refresh(event.target); });
  document.addEventListener("htmx:sseMessage", function (event) { refresh(event.target); });
})();
