// The field app (平安通): screens for grid workers and household heads over the JSON API.
// Reads go to the network when there is one (the service worker keeps the last answer for
// offline use); every write goes through the outbox of queue.js, so nothing entered is lost.
import { enqueue, pending, flush, onChange, dismiss } from "./queue.js";
import * as kv from "./idb.js";

const S = JSON.parse(document.getElementById("field-strings").textContent);
const t = (k, args) => {
  let s = S[k] || k;
  // Fluent leaves a variable it was not given as "{$name}": the script fills it in.
  if (args) for (const [a, v] of Object.entries(args)) s = s.split("{$" + a + "}").join(v);
  return s;
};
const $ = (sel, el = document) => el.querySelector(sel);

// The screens, in the order of the tab bar. To add one (e.g. the roll call of issue 8), add an
// entry here: `render(el, ctx)` draws it, or `module` names a script under /static/field/ that
// exports `render(el, ctx)` (ctx: {me, api, enqueue, t, h, toast, go}).
// `tab` (optional) lists the roles that get a tab for it; the others reach it from their home.
// Household heads get a simpler home of big buttons (report, notices, daily report, roll call).
export const SCREENS = [
  { id: "home", label: "field-nav-home", roles: ["household_head"], render: renderHome },
  { id: "tasks", label: "field-nav-tasks", roles: ["grid_worker"], render: renderTasks },
  { id: "report", label: "field-nav-report", roles: ["grid_worker", "household_head"], tab: ["grid_worker"], render: renderReport },
  { id: "notices", label: "field-nav-notices", roles: ["grid_worker", "household_head"], render: renderNotices },
  { id: "logs", label: "field-nav-logs", roles: ["grid_worker"], render: renderLogs },
  { id: "daily", label: "field-nav-daily", roles: ["grid_worker", "household_head"], tab: ["grid_worker"], render: renderDaily },
  { id: "area", label: "field-nav-area", roles: ["grid_worker", "household_head"], render: renderArea },
  { id: "rollcall", label: "field-nav-rollcall", roles: ["grid_worker", "household_head"], tab: ["grid_worker"], render: renderRollcall },
  { id: "outbox", label: "field-nav-outbox", roles: ["grid_worker", "household_head"], render: renderOutbox },
];

let me = null;

// --- small DOM helper --------------------------------------------------------------------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat()) if (c !== null && c !== undefined && c !== false) el.append(c.nodeType ? c : String(c));
  return el;
}

function toast(text, kind) {
  const el = h("p", { class: "toast " + (kind || ""), role: "status" }, text);
  document.body.append(el);
  setTimeout(() => el.remove(), 4000);
}

// --- auth and API ------------------------------------------------------------------------
async function signIn() {
  const saved = await kv.get("auth");
  if (saved && new Date(saved.expires_at) > new Date()) return saved;
  let r;
  try {
    r = await fetch("/field/token", { method: "POST", headers: { "x-gesang-field": "1" }, credentials: "same-origin" });
  } catch (_) {
    return saved || null; // offline: keep working with what we have
  }
  if (r.status === 401) {
    location.href = "/login?next=" + encodeURIComponent("/field");
    return null;
  }
  if (!r.ok) return saved || null;
  const auth = await r.json();
  await kv.put("auth", auth);
  return auth;
}

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + me.token, Accept: "application/json" } });
  if (r.status === 401) {
    await kv.del("auth");
    throw new Error(t("field-signin-again"));
  }
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error((body && body.error && body.error.message) || r.status);
  // Remember reads for offline starts (the service worker does too; this survives its updates).
  kv.put("get:" + path, body).catch(() => {});
  return body;
}

async function cached(path) {
  try {
    return await api(path);
  } catch (e) {
    const v = await kv.get("get:" + path);
    if (v !== undefined) return v;
    throw e;
  }
}

// --- shell: network state, outbox badge, tabs -----------------------------------------------
async function refreshBadge() {
  const items = await pending();
  const waiting = items.filter((i) => i.state !== "refused").length;
  const refused = items.length - waiting;
  const b = $("#outbox-button");
  b.hidden = items.length === 0;
  b.textContent = [waiting ? t("field-waiting", { n: waiting }) : "", refused ? t("field-refused-count", { n: refused }) : ""].filter(Boolean).join(" · ");
  b.className = "outbox" + (refused ? " has-refused" : "");
  b.dataset.waiting = waiting;
  b.dataset.refused = refused;
}

function refreshNet() {
  const n = $("#net");
  n.textContent = navigator.onLine ? t("field-online") : t("field-offline");
  n.className = "net " + (navigator.onLine ? "on" : "off");
}

function screensFor(role) {
  return SCREENS.filter((s) => !s.roles || s.roles.includes(role));
}

function drawTabs() {
  const nav = $("#tabs");
  nav.replaceChildren(...screensFor(me.role).filter((s) => !s.tab || s.tab.includes(me.role)).map((s) =>
    h("a", { href: "#" + s.id, "data-screen": s.id }, t(s.label))));
}

async function go(id) {
  const list = screensFor(me.role);
  const screen = list.find((s) => s.id === id) || list[0];
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("current", a.dataset.screen === screen.id);
  const el = $("#screen");
  el.replaceChildren();
  el.dataset.screen = screen.id;
  const ctx = { me, api: cached, enqueue: queue, t, h, toast, go };
  try {
    if (screen.module) {
      const mod = await import("/static/field/" + screen.module);
      await mod.render(el, ctx);
    } else {
      await screen.render(el, ctx);
    }
  } catch (e) {
    el.append(h("p", { class: "error" }, String(e.message || e)));
  }
}

// Put a write in the outbox and try to send it at once.
async function queue(item) {
  await enqueue(item);
  toast(navigator.onLine ? t("field-sending") : t("field-saved-offline"));
  if (navigator.onLine) flush().catch(() => {});
}

// --- photos ------------------------------------------------------------------------------
const MAX_PHOTO = 8 * 1024 * 1024;
const MAX_PHOTOS = 6;

// Resize to a long side of 1600 px as JPEG (small on a weak signal); refuse what stays too big.
async function preparePhotos(input) {
  const out = [];
  const files = Array.from(input.files || []).slice(0, MAX_PHOTOS);
  for (const f of files) {
    let blob = f;
    try {
      const bmp = await createImageBitmap(f);
      const scale = Math.min(1, 1600 / Math.max(bmp.width, bmp.height));
      const c = document.createElement("canvas");
      c.width = Math.round(bmp.width * scale);
      c.height = Math.round(bmp.height * scale);
      c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
      blob = await new Promise((res) => c.toBlob(res, "image/jpeg", 0.8));
    } catch (_) { /* not decodable here: send as it is, the server checks it */ }
    if (!blob || blob.size > MAX_PHOTO) throw new Error(t("field-photo-too-large", { name: f.name }));
    out.push(new File([blob], (f.name || "photo").replace(/\.\w+$/, "") + ".jpg", { type: blob.type || f.type }));
  }
  return out;
}

function photoField() {
  return h("label", {}, t("field-photos"),
    h("input", { type: "file", name: "photos", accept: "image/*", capture: "environment", multiple: true }),
    h("small", {}, t("field-photos-hint")));
}

// --- tasks -------------------------------------------------------------------------------
const OPEN = ["submitted", "accepted", "dispatched", "in_progress", "handled", "revisit", "parked"];
const LIGHT_ORDER = { red: 0, yellow: 1, green: 2 };

async function renderTasks(el) {
  el.append(h("h2", {}, t("field-tasks-title")));
  const page = await cached("/api/v1/cases?order=deadline&limit=100");
  const mine = (page.items || []).filter((c) => OPEN.includes(c.status) &&
    (c.handling_unit === me.scope || c.allowed_actions.some((a) => ["sign", "report_handled", "self_handle"].includes(a))));
  mine.sort((a, b) => (LIGHT_ORDER[a.light] ?? 3) - (LIGHT_ORDER[b.light] ?? 3) ||
    String(a.deadline || "9").localeCompare(String(b.deadline || "9")));
  if (!mine.length) el.append(h("p", { class: "empty" }, t("field-tasks-none")));
  for (const c of mine) el.append(taskCard(c));
}

function taskCard(c) {
  const actions = c.allowed_actions.filter((a) => ["sign", "note", "report_handled", "self_handle"].includes(a));
  const form = h("form", { class: "task-form", hidden: true });
  const card = h("article", { class: "card task", "data-code": c.code },
    h("header", {},
      h("span", { class: "light " + (c.light || "none"), title: c.light ? t("field-light-" + c.light) : "" }),
      h("strong", {}, c.category_name || c.category), " ", h("small", {}, c.code)),
    h("p", {}, c.title || c.description),
    c.deadline ? h("p", { class: "deadline" }, t("field-deadline"), " ", new Date(c.deadline).toLocaleString()) : null,
    h("div", { class: "actions" }, actions.map((a) =>
      h("button", { type: "button", onclick: () => openAction(form, c, a) }, t("field-act-" + a)))),
    form);
  return card;
}

function openAction(form, c, action) {
  form.hidden = false;
  form.replaceChildren();
  const needsResult = action === "report_handled" || action === "self_handle";
  if (needsResult) {
    form.append(h("label", {}, t("field-handle-result"), h("select", { name: "result" },
      ["solved", "partly_solved", "unsolved"].map((r) => h("option", { value: r }, t("field-result-" + r))))));
  }
  if (action !== "sign") form.append(h("label", {}, t("field-handle-text"), h("textarea", { name: "text", required: true, rows: 3 })));
  if (needsResult) form.append(photoField());
  form.append(h("button", { type: "submit" }, t("field-act-" + action)));
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const body = { action };
    if (fd.get("result")) body.result = fd.get("result");
    if (fd.get("text")) body.text = fd.get("text");
    let files = [];
    try { files = needsResult ? await preparePhotos(form.querySelector("input[type=file]")) : []; } catch (e) { toast(e.message, "error"); return; }
    await queue({ method: "POST", url: "/api/v1/cases/" + encodeURIComponent(c.id) + "/actions", body,
      label: t("field-act-" + action) + " " + c.code, files,
      files_url: "/api/v1/cases/" + encodeURIComponent(c.id) + "/attachments" });
    form.hidden = true;
  };
}

// --- report (上报) -------------------------------------------------------------------------
const CLASSES = ["attention", "management", "service"];

async function renderReport(el) {
  el.append(h("h2", {}, t("field-report-title")));
  const tree = await cached("/api/v1/categories");
  const choose = h("div", { class: "classes" }, CLASSES.map((k) =>
    h("button", { type: "button", class: "big", "data-class": k, onclick: () => form(k) }, t("field-class-" + k))));
  el.append(choose);
  const box = h("div", {});
  el.append(box);
  function options(nodes, depth) {
    return nodes.flatMap((n) => [h("option", { value: n.code }, "\u3000".repeat(depth) + n.name), ...options(n.children || [], depth + 1)]);
  }
  function form(cls) {
    const root = tree.filter((n) => n.class === cls);
    let pos = null;
    const where = h("output", { class: "where" }, t("field-location-none"));
    const f = h("form", { class: "stack", id: "report-form" },
      h("label", {}, t("field-category"), h("select", { name: "category", required: true }, options(root, 0))),
      h("label", {}, t("field-description"), h("textarea", { name: "description", required: true, rows: 4 })),
      h("div", { class: "row" },
        h("button", { type: "button", onclick: () => {
          if (!navigator.geolocation) return toast(t("field-location-unavailable"), "error");
          where.textContent = t("field-locating");
          navigator.geolocation.getCurrentPosition(
            (p) => { pos = { lat: p.coords.latitude, lng: p.coords.longitude, datum: "wgs84" }; where.textContent = pos.lat.toFixed(5) + ", " + pos.lng.toFixed(5); },
            () => { where.textContent = t("field-location-unavailable"); },
            { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
        } }, t("field-use-location")), where),
      h("label", {}, t("field-concerns"), h("input", { name: "concerns", placeholder: t("field-concerns-hint") })),
      photoField(),
      h("button", { type: "submit", class: "primary" }, t("field-submit")));
    f.onsubmit = async (ev) => {
      ev.preventDefault();
      const fd = new FormData(f);
      let files;
      try { files = await preparePhotos(f.querySelector("input[type=file]")); } catch (e) { toast(e.message, "error"); return; }
      const concerns = String(fd.get("concerns") || "").trim();
      const body = { category: fd.get("category"), description: String(fd.get("description")).trim() + (concerns ? "\n" + t("field-concerns") + "：" + concerns : "") };
      if (pos) body.location = pos; else body.territory = me.scope;
      const label = t("field-report-label", { what: f.elements.category.selectedOptions[0].textContent.trim() });
      await queue({ method: "POST", url: "/api/v1/cases", body, label, files });
      f.reset();
      pos = null;
      where.textContent = t("field-location-none");
    };
    box.replaceChildren(f);
    for (const b of choose.children) b.classList.toggle("current", b.dataset.class === cls);
  }
}

// --- work logs (台账) ----------------------------------------------------------------------
const KINDS = ["propaganda", "service", "visit", "hazard_inspection", "dispute_screening"];

const LOG_FIELDS = {
  propaganda: [["topic", "text"], ["place", "text"], ["attendees", "number"], ["language", "language"]],
  service: [["household", "household"], ["what", "textarea"]],
  visit: [["household", "household"], ["note", "textarea"]],
  hazard_inspection: [["place", "text"], ["hazard_found", "checkbox"], ["category", "hazard-category"], ["description", "textarea"], ["note", "textarea"]],
  dispute_screening: [["place", "text"], ["disputes_found", "number"], ["note", "textarea"]],
};

async function renderLogs(el) {
  el.append(h("h2", {}, t("field-logs-title")));
  const kinds = h("div", { class: "classes" }, KINDS.map((k) =>
    h("button", { type: "button", "data-kind": k, onclick: () => form(k) }, t("field-kind-" + k))));
  const box = h("div", {});
  const list = h("ul", { class: "list" });
  el.append(kinds, box, h("h3", {}, t("field-logs-mine")), list);
  const households = await cached("/api/v1/households?territory=" + me.scope + "&limit=200").then((p) => p.items || []).catch(() => []);
  const tree = await cached("/api/v1/categories").catch(() => []);
  cached("/api/v1/worklogs?limit=20").then((logs) => {
    list.replaceChildren(...logs.map((l) => h("li", {}, t("field-kind-" + l.kind), " · ", l.day, l.case_code ? " · " + l.case_code : "")));
  }).catch(() => {});
  function input(name, type) {
    const label = t("field-log-" + name);
    if (type === "textarea") return h("label", {}, label, h("textarea", { name, rows: 3 }));
    if (type === "number") return h("label", {}, label, h("input", { name, type: "number", min: 0, inputmode: "numeric", required: name === "attendees" }));
    if (type === "checkbox") return h("label", { class: "check" }, h("input", { name, type: "checkbox" }), label);
    if (type === "language") return h("label", {}, label, h("select", { name }, ["zh", "bo", "bilingual"].map((v) => h("option", { value: v }, t("field-language-" + v)))));
    if (type === "household") return h("label", {}, label, h("select", { name, required: true }, h("option", { value: "" }, "—"),
      households.map((x) => h("option", { value: x.id }, x.head_name + " · " + x.address))));
    if (type === "hazard-category") {
      const flat = (ns) => ns.flatMap((n) => [n, ...flat(n.children || [])]);
      return h("label", {}, label, h("select", { name }, flat(tree.filter((n) => n.class === "management")).map((n) => h("option", { value: n.code }, n.name))));
    }
    return h("label", {}, label, h("input", { name, required: ["topic", "place"].includes(name) }));
  }
  function form(kind) {
    const f = h("form", { class: "stack", id: "log-form" }, LOG_FIELDS[kind].map(([n, ty]) => input(n, ty)),
      h("button", { type: "submit", class: "primary" }, t("field-submit")));
    f.onsubmit = async (ev) => {
      ev.preventDefault();
      const fd = new FormData(f);
      const details = {};
      for (const [n, ty] of LOG_FIELDS[kind]) {
        if (ty === "checkbox") details[n] = fd.get(n) === "on";
        else if (ty === "number") { if (fd.get(n) !== "") details[n] = Number(fd.get(n)); }
        else if (fd.get(n)) details[n] = ty === "household" ? Number(fd.get(n)) : String(fd.get(n)).trim();
      }
      await queue({ method: "POST", url: "/api/v1/worklogs",
        body: { kind, territory: me.scope, at: new Date().toISOString(), details },
        label: t("field-kind-" + kind) + (details.topic ? "：" + details.topic : "") });
      f.reset();
    };
    box.replaceChildren(f);
    for (const b of kinds.children) b.classList.toggle("current", b.dataset.kind === kind);
  }
}

// --- daily report (日报) -------------------------------------------------------------------
function todayShanghai() {
  return new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
}

async function renderDaily(el) {
  const date = todayShanghai();
  el.append(h("h2", {}, t("field-daily-title")), h("p", {}, t("field-daily-date", { date })));
  el.append(h("button", { type: "button", class: "big primary", id: "zero-report", onclick: () =>
    queue({ method: "POST", url: "/api/v1/daily-reports", body: { date, nothing_to_report: true }, label: t("field-zero-report") + " " + date }) },
  t("field-zero-report")));
  const f = h("form", { class: "stack" },
    h("label", {}, t("field-daily-text"), h("textarea", { name: "text", required: true, rows: 4 })),
    h("button", { type: "submit" }, t("field-submit")));
  f.onsubmit = async (ev) => {
    ev.preventDefault();
    await queue({ method: "POST", url: "/api/v1/daily-reports", body: { date, nothing_to_report: false, text: new FormData(f).get("text") }, label: t("field-nav-daily") + " " + date });
    f.reset();
  };
  el.append(h("p", { class: "hint" }, t("field-daily-hint")), f);
  const sent = await cached("/api/v1/daily-reports").catch(() => []);
  if (sent.length) el.append(h("h3", {}, t("field-daily-sent")), h("ul", { class: "list" },
    sent.map((r) => h("li", {}, r.date, " · ", r.nothing_to_report ? t("field-zero-report") : r.text))));
}

// --- household head's home ----------------------------------------------------------------
const HOME = [["report", "field-home-report"], ["notices", "field-home-notices"], ["daily", "field-home-daily"], ["rollcall", "field-home-rollcall"]];

async function renderHome(el) {
  el.append(h("h2", {}, t("field-home-title")));
  const grid = h("div", { class: "home" }, HOME.map(([id, label]) =>
    h("a", { class: "home-button", href: "#" + id, "data-go": id }, h("span", {}, t(label)), h("small", { "data-count": id }))));
  el.append(grid);
  const unread = (await noticeList().catch(() => [])).filter((n) => !n.acknowledged_at && !n.ack_waiting).length;
  if (unread) grid.querySelector('[data-count="notices"]').textContent = t("field-notices-unread", { n: unread });
}

// --- notices (通知) -------------------------------------------------------------------------
// The list comes from the network or the last copy; an acknowledgement goes through the outbox
// (with its idempotency key) and shows as waiting until it is sent.
async function noticeList() {
  const list = await cached("/api/v1/notices");
  const waiting = new Set((await pending()).filter((i) => i.state !== "refused" && /\/api\/v1\/notices\/\d+\/ack$/.test(i.url))
    .map((i) => i.url.split("/")[4]));
  return (list.received || []).map((n) => ({ ...n, ack_waiting: !n.acknowledged_at && waiting.has(n.id) }))
    .sort((a, b) => (a.acknowledged_at || a.ack_waiting ? 1 : 0) - (b.acknowledged_at || b.ack_waiting ? 1 : 0));
}

async function renderNotices(el) {
  el.append(h("h2", {}, t("field-notices-title")));
  const list = h("div", { class: "notices" });
  el.append(list);
  const bo = S.lang === "bo";
  async function draw() {
    const items = await noticeList();
    if (!items.length) { list.replaceChildren(h("p", { class: "empty" }, t("field-notices-none"))); return; }
    list.replaceChildren(...items.map((n) => {
      const state = n.acknowledged_at ? "acknowledged" : n.ack_waiting ? "waiting" : n.read_at ? "read" : "unread";
      const body = h("div", { class: "notice-body", hidden: true },
        h("p", {}, n.text), n.text_bo ? h("p", { lang: "bo" }, n.text_bo) : null,
        state === "unread" || state === "read"
          ? h("button", { type: "button", class: "big primary ack", onclick: async () => {
            await queue({ method: "POST", url: "/api/v1/notices/" + encodeURIComponent(n.id) + "/ack", body: {}, label: t("field-notices-ack") + "：" + n.title });
            await draw();
          } }, t("field-notices-ack"))
          : h("p", { class: "ack-state" }, state === "waiting" ? t("field-notices-ack-waiting") : t("field-notices-acked", { at: new Date(n.acknowledged_at).toLocaleString() })));
      return h("article", { class: "card notice " + state, "data-id": n.id, "data-state": state },
        h("button", { type: "button", class: "notice-open", onclick: () => {
          body.hidden = !body.hidden;
          // Read receipt when there is a signal (best effort; the acknowledgement is what counts).
          if (!body.hidden && !n.read_at) fetch("/api/v1/notices/" + encodeURIComponent(n.id), { headers: { Authorization: "Bearer " + me.token } }).catch(() => {});
        } }, h("strong", {}, bo && n.title_bo ? n.title_bo : n.title), " ",
          h("small", {}, t("field-notices-state-" + state), " · ", n.sender, " · ", new Date(n.sent_at).toLocaleDateString())),
        body);
    }));
  }
  await draw();
  const off = onChange(() => { if (el.isConnected) draw().catch(() => {}); else off(); });
}

// --- roll call (emergency) ---------------------------------------------------------------
// The roll call itself is the server page /field/rollcall (it works without JavaScript too, and
// queues each tap through the same outbox); this screen says whether an incident is active and
// leads there. The service worker keeps the last copy of that page for use without a signal.
async function renderRollcall(el) {
  el.append(h("h2", {}, t("field-nav-rollcall")));
  const active = await cached("/api/v1/incidents?active=true").catch(() => null);
  if (active === null) {
    el.append(h("p", { class: "hint" }, t("field-rollcall-unknown")));
  } else if (!active.length) {
    el.append(h("p", {}, t("field-rollcall-none")));
    return;
  } else {
    el.append(h("ul", { class: "list" }, active.map((i) =>
      h("li", {}, i.title, " · ", i.level_name))));
  }
  el.append(h("a", { class: "big primary button", href: "/field/rollcall", id: "open-rollcall" }, t("field-rollcall-open")));
}

// --- my area -----------------------------------------------------------------------------
async function renderArea(el) {
  const node = await cached("/api/v1/territories/" + me.scope);
  el.append(h("h2", {}, node.name), h("p", {}, t("field-area-counts", { households: node.counts.households, groups: node.counts.groups })));
  if (me.role === "grid_worker") {
    const groups = await cached("/api/v1/org/groups?grid=" + me.scope).catch(() => null);
    if (groups) el.append(h("h3", {}, t("field-area-groups")), h("ul", { class: "list" },
      groups.map((g) => h("li", {}, g.name || g.code, " · ", t("field-area-head"), " ", g.head_name || "—", " · ", t("field-area-group-households", { n: g.households })))));
  }
  el.append(h("button", { type: "button", id: "sign-out", onclick: signOut }, t("field-sign-out")));
  const page = await cached("/api/v1/households?territory=" + me.scope + "&limit=200");
  el.append(h("h3", {}, t("field-area-households")), h("ul", { class: "list households" }, (page.items || []).map((x) =>
    h("li", {}, h("strong", {}, x.head_name), " · ", x.address, " · ", x.phone, x.care ? h("span", { class: "tag" }, t("field-area-care")) : null))));
}

// Sign out of the app: revoke its token and forget this account's cached data (a phone may be
// shared), then end the page session on the account page. What still waits to be sent stays.
async function signOut() {
  const waitingItems = (await pending()).filter((i) => i.state !== "refused").length;
  if (waitingItems && !confirm(t("field-sign-out-waiting", { n: waitingItems }))) return;
  try {
    await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: "Bearer " + me.token } });
  } catch (_) { /* offline: the token expires by itself */ }
  await kv.del("auth");
  const db = await kv.open();
  await new Promise((res) => { const tr = db.transaction("kv", "readwrite"); tr.objectStore("kv").clear(); tr.oncomplete = res; tr.onerror = res; });
  if (self.caches) await caches.delete("field-data");
  location.href = "/account";
}

// --- outbox ------------------------------------------------------------------------------
async function renderOutbox(el) {
  el.append(h("h2", {}, t("field-outbox-title")));
  const list = h("ul", { class: "list outbox-list" });
  el.append(list, h("button", { type: "button", onclick: () => flush().then(draw) }, t("field-send-now")));
  async function draw() {
    const items = await pending();
    if (!items.length) { list.replaceChildren(h("li", { class: "empty" }, t("field-outbox-empty"))); return; }
    list.replaceChildren(...items.map((i) => h("li", { class: "item " + i.state, "data-state": i.state },
      h("strong", {}, i.label), " · ", t("field-state-" + i.state), i.photos ? " · " + t("field-photos-n", { n: i.photos }) : "",
      i.state === "refused" ? h("p", { class: "reason" }, t("field-refused-reason"), " ", i.reason || "") : null,
      i.state === "refused" ? h("button", { type: "button", onclick: () => dismiss(i.id).then(draw) }, t("field-dismiss")) : null)));
  }
  await draw();
  const off = onChange(() => { if (el.isConnected) draw(); else off(); });
}

// --- start -------------------------------------------------------------------------------
async function start() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/field/sw.js", { scope: "/field" }).catch((e) => console.warn("service worker", e));
  }
  refreshNet();
  addEventListener("online", refreshNet);
  addEventListener("offline", refreshNet);
  onChange(refreshBadge);
  refreshBadge();
  $("#outbox-button").addEventListener("click", () => { location.hash = "#outbox"; });
  me = await signIn();
  if (!me) {
    $("#screen").replaceChildren(h("p", {}, h("a", { href: "/login?next=/field" }, t("field-signin"))));
    return;
  }
  $("#title").textContent = t("field-title") + " · " + me.display_name;
  drawTabs();
  addEventListener("hashchange", () => go(location.hash.slice(1)));
  // Warm the caches every screen needs offline.
  await Promise.allSettled([cached("/api/v1/categories"), cached("/api/v1/territories/" + me.scope), cached("/api/v1/notices")]);
  await go(location.hash.slice(1));
  document.body.dataset.ready = "1";
  flush().catch(() => {});
}

start();
