// The offline queue (outbox) of the field app: everything entered is stored here first, with an
// idempotency key, and sent in order, once, when the phone is online.
//
//   enqueue({method, url, body, label, files?}) -> id
//   pending() -> [{id, method, url, body, label, state: "waiting"|"sending"|"refused", reason?}]
//   flush() -> {sent, refused}
//   onChange(callback)
//
// A 2xx answer removes the item; a 4xx marks it "refused" with the server's message (kept until
// the user dismisses it: never dropped silently); a network error, 401 (sign in again), 408,
// 429 or 5xx stops the flush, the item stays "waiting" and is tried again later. Items go out
// strictly in order: a waiting item is never overtaken by a later one of the same account.
// Optional `files` (Blobs) are uploaded after the main request succeeds, as multipart "photos"
// to `files_url` or, by default, to /api/v1/cases/{id}/attachments of the case answered, with
// an idempotency key of their own. Every item carries a key: JSON bodies in `idempotency_key`.
import { tx, get } from "./idb.js";

const listeners = new Set();
let flushing = null;

function changed() {
  for (const cb of listeners) {
    try { cb(); } catch (e) { console.error(e); }
  }
}

function newKey() {
  if (crypto.randomUUID) return "f-" + crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return "f-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export async function enqueue({ method, url, body, label, files, files_url }) {
  const item = {
    method: (method || "POST").toUpperCase(),
    url,
    body: body === undefined ? null : body,
    label: label || url,
    state: "waiting",
    created_at: new Date().toISOString(),
    // Sent only with this account's token (a shared phone never sends one person's entries
    // as another's).
    account: (await get("auth"))?.username ?? null,
  };
  if (item.body && typeof item.body === "object" && !Array.isArray(item.body) && !item.body.idempotency_key) {
    item.body = { ...item.body, idempotency_key: newKey() };
  }
  // The photos go as their own request after the main one: a key of their own, fixed now, so
  // a retried upload stores them once.
  if (files && files.length) { item.files = Array.from(files); item.files_key = newKey(); }
  if (files_url) item.files_url = files_url;
  const id = await tx("outbox", "readwrite", (s) => s.add(item));
  changed();
  return id;
}

export async function pending() {
  const all = await tx("outbox", "readonly", (s) => s.getAll());
  return (all || []).map(({ id, method, url, body, label, state, reason, files }) => ({
    id, method, url, body, label, state, reason, photos: files ? files.length : 0,
  }));
}

// Remove a refused item once the user has read why (or any item the user withdraws).
export async function dismiss(id) {
  await tx("outbox", "readwrite", (s) => s.delete(id));
  changed();
}

export function onChange(callback) {
  listeners.add(callback);
  return () => listeners.delete(callback);
}

async function save(item) {
  await tx("outbox", "readwrite", (s) => s.put(item));
  changed();
}

async function send(item, token) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  let body;
  if (item.multipart) {
    body = new FormData();
    if (item.files_key) body.append("idempotency_key", item.files_key);
    for (const f of item.files || []) body.append("photos", f, f.name || "photo.jpg");
  } else if (item.body !== null && item.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(item.body);
  }
  return fetch(item.url, { method: item.method, headers, body, credentials: "same-origin" });
}

async function reasonOf(resp) {
  try {
    const j = await resp.json();
    if (j && j.error) return j.error.message || j.error.code;
  } catch (_) { /* not JSON */ }
  return resp.status + " " + resp.statusText;
}

async function run() {
  let sent = 0;
  let refused = 0;
  const auth = await get("auth");
  const token = auth?.token;
  for (;;) {
    const all = (await tx("outbox", "readonly", (s) => s.getAll())) || [];
    const item = all.find((i) => i.state !== "refused" && (!i.account || i.account === auth?.username));
    if (!item) break;
    item.state = "sending";
    await save(item);
    let resp;
    try {
      resp = await send(item, token);
    } catch (_) {
      item.state = "waiting";
      await save(item);
      break; // offline: try again later
    }
    if (resp.ok) {
      if (item.files && item.files.length && !item.multipart) {
        let target = item.files_url;
        if (!target) {
          const j = await resp.json().catch(() => null);
          if (j && j.id) target = "/api/v1/cases/" + encodeURIComponent(j.id) + "/attachments";
        }
        if (target) {
          // The main request is done; what is left is the photos, in this item's place.
          Object.assign(item, { method: "POST", url: target, multipart: true, body: null, state: "waiting" });
          await save(item);
          continue;
        }
      }
      await tx("outbox", "readwrite", (s) => s.delete(item.id));
      changed();
      sent += 1;
      continue;
    }
    if (resp.status >= 400 && resp.status < 500 && ![401, 408, 429].includes(resp.status)) {
      item.state = "refused";
      item.reason = await reasonOf(resp);
      item.status = resp.status;
      await save(item);
      refused += 1;
      continue;
    }
    item.state = "waiting";
    item.reason = resp.status === 401 ? "401" : await reasonOf(resp);
    await save(item);
    break;
  }
  return { sent, refused };
}

export function flush() {
  // One flush at a time: a call made while one runs waits for it, then runs again.
  const next = (flushing || Promise.resolve()).catch(() => {}).then(run);
  flushing = next;
  next.finally(() => { if (flushing === next) flushing = null; }).catch(() => {});
  return next;
}

// Send when the signal returns, and on start (an earlier session may have left items).
addEventListener("online", () => { flush().catch(console.error); });
if (navigator.onLine) flush().catch(console.error);
