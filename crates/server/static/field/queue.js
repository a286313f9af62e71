// The field app's outbox (stand-in: issue 5 owns the real /static/field/queue.js with this same
// interface). Requests wait in IndexedDB ("gesang-field", store "outbox") until they are sent;
// each JSON body carries an idempotency_key so a resend is applied once.
const DB = "gesang-field";
const STORE = "outbox";
const listeners = [];

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(STORE)) {
        req.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true });
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const store = t.objectStore(STORE);
    let out;
    Promise.resolve(fn(store)).then((v) => { out = v; });
    t.oncomplete = () => { db.close(); resolve(out); };
    t.onerror = () => { db.close(); reject(t.error); };
  });
}

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function changed() {
  for (const cb of listeners) {
    try { cb(); } catch (_) { /* a listener's failure is its own */ }
  }
}

function newKey() {
  if (self.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
}

export async function enqueue({ method, url, body, label }) {
  const b = Object.assign({}, body || {});
  if (!b.idempotency_key) b.idempotency_key = newKey();
  const id = await tx("readwrite", (s) => req(s.add({ method, url, body: b, label, state: "waiting" })));
  changed();
  return id;
}

export async function pending() {
  return tx("readonly", (s) => req(s.getAll()));
}

let flushing = null;

export function flush() {
  if (!flushing) {
    flushing = doFlush().finally(() => { flushing = null; });
  }
  return flushing;
}

async function doFlush() {
  let sent = 0;
  let refused = 0;
  const items = (await pending()).filter((i) => i.state !== "refused");
  for (const item of items) {
    await tx("readwrite", (s) => req(s.put(Object.assign(item, { state: "sending" }))));
    changed();
    let resp;
    try {
      resp = await fetch(item.url, {
        method: item.method || "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(item.body),
      });
    } catch (_) {
      await tx("readwrite", (s) => req(s.put(Object.assign(item, { state: "waiting" }))));
      changed();
      break; // offline: the rest waits too
    }
    if (resp.ok) {
      await tx("readwrite", (s) => req(s.delete(item.id)));
      sent += 1;
    } else if (resp.status >= 400 && resp.status < 500 && resp.status !== 408 && resp.status !== 429) {
      let reason = "HTTP " + resp.status;
      try { reason = (await resp.json()).error.message || reason; } catch (_) { /* not JSON */ }
      await tx("readwrite", (s) => req(s.put(Object.assign(item, { state: "refused", reason }))));
      refused += 1;
    } else {
      await tx("readwrite", (s) => req(s.put(Object.assign(item, { state: "waiting" }))));
      changed();
      break;
    }
    changed();
  }
  return { sent, refused };
}

export function onChange(callback) {
  listeners.push(callback);
}

self.addEventListener("online", () => { flush(); });
