// Browser journey of the emergency roll call, in Debian's chromium driven by playwright-core,
// against the release binary on a fresh small demo (夏河县): the township centre activates the
// debris-flow plan on 达麦村 through the API; a household head opens the roll-call screen,
// loses the signal (context.setOffline), marks each of his households evacuated (the taps wait
// in the field app's outbox), gets the signal back and the outbox empties; the township centre's
// incident board, open all along, shows the counts updated without a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const bin = process.env.GESANG_BIN
  ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'release', 'gesang');
const port = Number(process.env.GESANG_EMERGENCY_PORT ?? 18187);
const base = `http://127.0.0.1:${port}`;
const shots = join(here, 'screenshots');

const TOWNSHIP = '623027202'; // 达麦乡
const VILLAGE = '623027202201'; // 达麦村
const GROUP = '623027202201001001'; // its first joint-defence group

let server, dataDir, browser;

async function waitHealthy() {
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('server did not become healthy');
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'gesang-emergency-'));
  server = spawn(bin, ['--data-dir', dataDir, 'serve', '--demo', '--demo-scale', 'small', '--demo-history-days', '0',
    '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitHealthy();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
});

async function token(username) {
  const r = await fetch(`${base}/api/v1/auth/token`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: 'gesang-demo' }),
  });
  assert.equal(r.status, 200);
  return (await r.json()).token;
}

async function signedIn(user, next, viewport) {
  const ctx = await browser.newContext({ viewport });
  const p = await ctx.newPage();
  const errors = [];
  p.on('pageerror', (e) => errors.push(String(e)));
  // Failed loads while offline are the point of the test; script errors are not.
  p.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource|ERR_INTERNET_DISCONNECTED/.test(m.text())) {
      errors.push(m.text());
    }
  });
  await p.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  await p.fill('input[name=username]', user);
  await p.fill('input[name=password]', 'gesang-demo');
  await p.click('main form button[type=submit]');
  return { ctx, p, errors };
}

const count = async (p, sel) => Number((await p.textContent(sel)).trim());

test('a household head calls the roll offline and the board updates when he is back online', async () => {
  // The township centre activates the plan on 达麦村.
  const centreToken = await token(`center-${TOWNSHIP}`);
  const created = await fetch(`${base}/api/v1/incidents`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${centreToken}` },
    body: JSON.stringify({ plan: 'debris-flow', territories: [VILLAGE], level: 2, title: '达麦村泥石流点名' }),
  });
  assert.equal(created.status, 201);
  const incident = await created.json();
  assert.equal(incident.rollcall.unreached, incident.households_total);

  // The centre's board is open from the start.
  const centre = await signedIn(`center-${TOWNSHIP}`, `/incidents/${incident.id}`, { width: 1200, height: 900 });
  await centre.p.waitForURL(new RegExp(`/incidents/${incident.id}$`));
  assert.match(await centre.p.textContent('h1'), /达麦村泥石流点名/);
  assert.equal(await count(centre.p, '#em-total [data-count=evacuated]'), 0);
  const unreachedBefore = await count(centre.p, '#em-total [data-count=unreached]');
  assert.equal(unreachedBefore, incident.households_total);

  // The household head opens the roll-call screen on his phone, with a signal.
  const head = await signedIn(`head-${GROUP}`, '/field/rollcall', { width: 390, height: 800 });
  await head.p.waitForURL(/\/field\/rollcall$/);
  const section = head.p.locator(`section[data-incident="${incident.id}"]`);
  await section.waitFor();
  assert.match(await head.p.textContent('main'), /联户长|清点|ཁྱིམ/);
  const households = section.locator('[data-household]');
  const n = await households.count();
  assert.ok(n >= 5 && n <= 15, `a group has about ten households, got ${n}`);

  // The signal goes; he marks every household evacuated.
  await head.ctx.setOffline(true);
  for (let i = 0; i < n; i++) {
    await households.nth(i).locator('button[value=evacuated]').click();
  }
  await head.p.waitForFunction(
    (n) => Number(document.getElementById('em-outbox').getAttribute('data-waiting')) === n, n);
  assert.equal(await section.locator('[data-household].waiting').count(), n, 'every tap waits');
  await head.p.screenshot({ path: join(shots, 'emergency-offline.png'), fullPage: true });
  // Nothing reached the server meanwhile.
  const mid = await (await fetch(`${base}/api/v1/incidents/${incident.id}`, {
    headers: { authorization: `Bearer ${centreToken}` },
  })).json();
  assert.equal(mid.rollcall.evacuated, 0);

  // The signal comes back: the outbox empties by itself.
  await head.ctx.setOffline(false);
  await head.p.waitForFunction(
    () => Number(document.getElementById('em-outbox').getAttribute('data-waiting')) === 0,
    null, { timeout: 20000 });
  assert.equal(await section.locator('[data-household].waiting').count(), 0);

  // The board updates without a reload.
  await centre.p.waitForFunction(
    (n) => Number(document.querySelector('#em-total [data-count=evacuated]').textContent) === n,
    n, { timeout: 20000 });
  assert.equal(await count(centre.p, '#em-total [data-count=unreached]'), unreachedBefore - n);
  // It heard the roll call on the live event stream (not only by polling).
  assert.equal(await centre.p.getAttribute('#em-board', 'data-stream-state'), 'open');
  assert.ok(Number(await centre.p.getAttribute('#em-board', 'data-heard')) >= 1, 'the board heard the roll call live');
  const row = centre.p.locator(`#em-villages tr[data-village="${VILLAGE}"]`);
  assert.equal(Number((await row.locator('[data-count=evacuated]').textContent()).trim()), n);
  await centre.p.screenshot({ path: join(shots, 'emergency-board.png'), fullPage: true });

  // Sent once each, though the outbox may have tried more than once.
  const after = await (await fetch(`${base}/api/v1/incidents/${incident.id}/households?status=evacuated`, {
    headers: { authorization: `Bearer ${centreToken}` },
  })).json();
  assert.equal(after.items.length, n);
  for (const h of after.items) assert.equal(h.reports, 1, `household ${h.household} reported once`);
  assert.deepEqual(head.errors, [], 'no script errors on the phone');
  assert.deepEqual(centre.errors, [], 'no script errors on the board');
});
