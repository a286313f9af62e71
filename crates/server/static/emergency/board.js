// The incident board's live figures. The server announces every change of the incident (a
// roll-call batch, an acknowledgement, an order, a level change) on the live event stream; the
// board then fetches its exact figures from the board's JSON and puts the counts in place. It
// also polls, every 3 s while the stream is down and every 20 s while it is up, so a missed
// event costs at most a little delay. The page works without this script (reload for fresh
// figures).
(function () {
  "use strict";
  var board = document.getElementById("em-board");
  if (!board || !window.fetch) return;
  var id = board.getAttribute("data-incident");
  var url = board.getAttribute("data-live");
  var node = board.getAttribute("data-stream");
  var KEYS = ["safe", "evacuated", "injured", "missing", "unreached"];
  var KINDS = ["incident_activated", "incident_changed", "incident_rollcall", "incident_acknowledged"];
  var streaming = false;
  var timer = null;
  var busy = false;
  var again = false;

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

  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(refresh, ms);
  }

  // One fetch at a time; an event heard during a fetch asks for one more after it.
  function refresh() {
    timer = null;
    if (busy) { again = true; return; }
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) { if (v) apply(v); })
      .catch(function () { /* offline: try again at the next tick */ })
      .then(function () {
        busy = false;
        if (again) { again = false; schedule(200); } else { schedule(streaming ? 20000 : 3000); }
      });
  }

  if (node && window.EventSource) {
    var source = new EventSource("/api/v1/events?territory=" + encodeURIComponent(node));
    source.onopen = function () {
      streaming = true;
      board.setAttribute("data-stream-state", "open");
    };
    source.onerror = function () {
      streaming = false;
      board.setAttribute("data-stream-state", "down");
    };
    KINDS.forEach(function (k) {
      source.addEventListener(k, function (e) {
        var d;
        try { d = JSON.parse(e.data); } catch (err) { return; }
        if (!d || String(d.incident) !== id) return;
        board.setAttribute("data-heard", String((parseInt(board.getAttribute("data-heard"), 10) || 0) + 1));
        if (busy) { again = true; } else { schedule(100); }
      });
    });
  }
  schedule(3000);
})();
