// The war room's live feed: new cases and cards arrive over server-sent events and appear at
// the top of the live list, in the counts of their child node and on its map shape. The page
// works without this script; EventSource reconnects by itself and resumes after the last
// event it saw (Last-Event-ID).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  var node = live.getAttribute("data-territory");
  var list = document.getElementById("live-list");
  var state = document.getElementById("live-state");
  var seen = {};
  var names = {};
  try { names = JSON.parse(live.getAttribute("data-categories") || "{}"); } catch (err) { names = {}; }
  var source = new EventSource("/api/v1/events?territory=" + encodeURIComponent(node));

  function bump(id, by) {
    var el = document.getElementById(id);
    if (el) el.textContent = String((parseInt(el.textContent, 10) || 0) + by);
  }

  // The child row and map shape whose code starts the event's place.
  function childOf(place) {
    var rows = document.querySelectorAll("#center-children tr[data-child]");
    for (var i = 0; i < rows.length; i++) {
      var code = rows[i].getAttribute("data-child");
      if (place && place.indexOf(code) === 0) return { row: rows[i], code: code };
    }
    return null;
  }

  function flash(code) {
    var links = document.querySelectorAll('#center-map a[href="/center?territory=' + code + '"] path');
    for (var i = 0; i < links.length; i++) {
      var p = links[i];
      p.classList.remove("flash");
      // Restart the animation.
      void p.getBoundingClientRect();
      p.classList.add("flash");
    }
  }

  function add(label, d, cls) {
    var li = document.createElement("li");
    li.className = "new " + cls;
    li.setAttribute("data-case", d.case_id || "");
    var time = document.createElement("time");
    time.textContent = new Date(d.at).toLocaleTimeString();
    var a = document.createElement("a");
    a.href = "/cases/" + encodeURIComponent(d.case_id);
    a.className = "code";
    a.textContent = d.code;
    var what = document.createElement("span");
    what.textContent = " " + label + " · " + (names[d.category] || d.category || "") + " · " + (d.territory || "");
    li.appendChild(time);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(a);
    li.appendChild(what);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 50) list.removeChild(list.lastChild);
  }

  function handle(kind, e) {
    if (seen[e.lastEventId]) return;
    seen[e.lastEventId] = true;
    var d;
    try { d = JSON.parse(e.data); } catch (err) { return; }
    var child = childOf(d.territory);
    if (kind === "case_created") {
      add(live.getAttribute("data-new"), d, "created");
      bump("center-open", 1);
      if (child) {
        var open = child.row.querySelector("a.open");
        if (open) open.textContent = String((parseInt(open.textContent, 10) || 0) + 1);
        flash(child.code);
      }
    } else if (kind === "case_supervised") {
      add(live.getAttribute("data-card") + " (" + d.level + ")", d, "card " + d.level);
    } else if (kind === "case_changed" && (d.status === "closed" || d.status === "rejected" || d.status === "merged")) {
      add(live.getAttribute("data-changed"), d, "ended");
    }
  }

  ["case_created", "case_supervised", "case_changed"].forEach(function (k) {
    source.addEventListener(k, function (e) { handle(k, e); });
  });
  source.onopen = function () { state.textContent = "●"; state.className = "live-state on"; };
  source.onerror = function () { state.textContent = live.getAttribute("data-off"); state.className = "live-state off"; };
})();
