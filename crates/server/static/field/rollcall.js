// The roll-call screen: a tap on a status goes into the field app's outbox (queue.js) and is
// sent at once when there is a signal, or when it comes back. The household shows the status
// it was given, marked as waiting until the server has it.
import { enqueue, pending, flush, onChange } from "/static/field/queue.js";

const root = document.getElementById("em-field");
const csrf = root ? root.getAttribute("data-csrf") : "";
const box = document.getElementById("em-outbox");

async function showOutbox() {
  if (!box) return;
  const items = (await pending()).filter((i) => i.url.startsWith("/field/rollcall/"));
  const waiting = items.filter((i) => i.state !== "refused").length;
  const refused = items.filter((i) => i.state === "refused");
  box.setAttribute("data-waiting", String(waiting));
  let text = waiting > 0 ? "待发送 " + waiting + " 条（有信号时自动发送）" : "全部已发送";
  if (refused.length > 0) text += "；被拒绝 " + refused.length + " 条：" + refused.map((r) => r.reason).join("；");
  box.textContent = text;
}

function mark(li, status, label, waiting) {
  li.className = li.className.replace(/\bst-\w+/, "st-" + status);
  li.classList.toggle("waiting", waiting);
  const s = li.querySelector(".em-hh-status");
  if (s) { s.textContent = label + (waiting ? " …" : ""); s.setAttribute("data-status", status); }
  li.querySelectorAll("button[name=status]").forEach((b) => b.classList.toggle("current", b.value === status));
}

if (root) {
  root.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[name=status]");
    if (!b) return;
    ev.preventDefault();
    const li = b.closest("[data-household]");
    const section = b.closest("[data-incident]");
    const household = Number(li.getAttribute("data-household"));
    const incident = section.getAttribute("data-incident");
    mark(li, b.value, b.getAttribute("data-label") || b.textContent, true);
    await enqueue({
      method: "POST",
      url: "/field/rollcall/" + incident + "/batch",
      body: { csrf, entries: [{ household, status: b.value, at: new Date().toISOString() }] },
      label: "roll call " + household + " " + b.value,
    });
    await showOutbox();
    if (navigator.onLine) {
      await flush();
    }
    await refresh();
  });
  onChange(refresh);
  self.addEventListener("online", async () => {
    await flush();
    await refresh();
  });
  refresh();
  if (navigator.onLine) flush().then(refresh);
}

// A household stays marked as waiting while the outbox still holds a report about it.
async function refresh() {
  const items = (await pending()).filter((i) => i.state !== "refused" && i.body && i.body.entries);
  const waiting = new Set();
  for (const i of items) for (const e of i.body.entries) waiting.add(e.household);
  document.querySelectorAll("[data-household]").forEach((li) => {
    li.classList.toggle("waiting", waiting.has(Number(li.getAttribute("data-household"))));
  });
  await showOutbox();
}
