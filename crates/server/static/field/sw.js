// Service worker of the field app. The shell (page, scripts, styles, icons) is cached at
// install, so the app starts with no signal; API reads are network-first with the last answer
// kept for offline use; writes never go through here (they wait in the IndexedDB outbox).
const VERSION = "__SHELL_VERSION__";
const SHELL = "field-shell-" + VERSION;
const DATA = "field-data";
const FILES = [
  "/field",
  "/static/field/app.js",
  "/static/field/queue.js",
  "/static/field/idb.js",
  "/static/field/field.css",
  "/static/field/icon.svg",
  "/static/field/icon-192.png",
  "/field/manifest.webmanifest",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("field-shell-") && k !== SHELL).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

async function shellFirst(request) {
  const cache = await caches.open(SHELL);
  const hit = await cache.match(request, { ignoreSearch: false });
  if (hit) {
    // Refresh in the background for the next start.
    fetch(request).then((r) => { if (r.ok) cache.put(request, r); }).catch(() => {});
    return hit;
  }
  try {
    const r = await fetch(request);
    if (r.ok) cache.put(request, r.clone());
    return r;
  } catch (e) {
    const fallback = await cache.match("/field");
    if (fallback) return fallback;
    throw e;
  }
}

async function networkFirst(request) {
  const cache = await caches.open(DATA);
  try {
    const r = await fetch(request);
    if (r.ok) cache.put(request, r.clone());
    return r;
  } catch (e) {
    const hit = await cache.match(request);
    if (hit) {
      const h = new Headers(hit.headers);
      h.set("x-gesang-offline", "1");
      return new Response(hit.body, { status: hit.status, headers: h });
    }
    return new Response(JSON.stringify({ error: { code: "offline", message: "offline" } }), {
      status: 503, headers: { "Content-Type": "application/json", "x-gesang-offline": "1" },
    });
  }
}

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== location.origin) return;
  if (url.pathname === "/field" || url.pathname.startsWith("/static/field/") || url.pathname === "/field/manifest.webmanifest") {
    event.respondWith(shellFirst(req));
  } else if (url.pathname.startsWith("/api/v1/")) {
    event.respondWith(networkFirst(req));
  }
});
