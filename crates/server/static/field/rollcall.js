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
    const left = (await pending()).some((i) => i.body && i.body.entries &&
      i.body.entries.some((e) => e.household === household) && i.state !== "refused");
    if (!left) li.classList.remove("waiting");
    await showOutbox();
  });
  onChange(showOutbox);
  self.addEventListener("online", async () => {
    await flush();
    document.querySelectorAll("[data-household].waiting").forEach((li) => li.classList.remove("waiting"));
    await showOutbox();
  });
  showOutbox();
  if (navigator.onLine) flush().then(showOutbox);
}
