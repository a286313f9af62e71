// The incident board's live figures: poll the board's JSON every few seconds and put the
// counts in place. The page works without it (reload for fresh figures).
(function () {
  "use strict";
  var board = document.getElementById("em-board");
  if (!board || !window.fetch) return;
  var url = board.getAttribute("data-live");
  var KEYS = ["safe", "evacuated", "injured", "missing", "unreached"];

  function set(el, v) {
    if (el && el.textContent !== String(v)) el.textContent = String(v);
  }

  function apply(v) {
    var total = document.getElementById("em-total");
    if (total) {
      set(total.querySelector('[data-count="households"]'), v.households_total);
      KEYS.forEach(function (k) {
        set(total.querySelector('[data-count="' + k + '"]'), v.rollcall[k]);
      });
    }
    set(document.getElementById("em-summary"), v.summary);
    set(document.getElementById("em-ack"), v.instructions_acknowledged);
    set(document.getElementById("em-ins"), v.instructions_total);
    (v.villages || []).forEach(function (x) {
      var row = document.querySelector('#em-villages tr[data-village="' + x.code + '"]');
      if (!row) return;
      KEYS.forEach(function (k) {
        set(row.querySelector('[data-count="' + k + '"]'), x.rollcall[k]);
      });
      var small = row.querySelector("small");
      set(small, x.summary);
    });
    board.setAttribute("data-updated", new Date().toISOString());
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) { if (v) apply(v); })
      .catch(function () { /* offline: try again at the next tick */ })
      .then(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 3000);
})();
