// IndexedDB of the field app: database "gesang-field" with the stores "outbox" (the offline
// queue, see queue.js) and "kv" (the API token and the worker's cached data).
const DB = "gesang-field";
const VERSION = 1;
let opening = null;

export function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains("outbox")) {
          db.createObjectStore("outbox", { keyPath: "id", autoIncrement: true });
        }
        if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => { opening = null; reject(req.error); };
    });
  }
  return opening;
}

// Run fn(store) in one transaction; resolves with what fn's last request returned.
export async function tx(name, mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const t = db.transaction(name, mode);
    let result;
    const r = fn(t.objectStore(name));
    if (r && "onsuccess" in r) r.onsuccess = () => { result = r.result; };
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

export const get = (key) => tx("kv", "readonly", (s) => s.get(key));
export const put = (key, value) => tx("kv", "readwrite", (s) => s.put(value, key));
export const del = (key) => tx("kv", "readwrite", (s) => s.delete(key));
