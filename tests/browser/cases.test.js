// Browser journey of the case loop on the case pages, in Debian's chromium driven by
// playwright-core, against the release binary on a fresh small demo (夏河县), JavaScript off:
// a case reported in a grid of 达麦乡 is accepted and dispatched by the township centre, signed
// for and handled by the police station, verified, visited and closed by the centre, each step
// through the page's own forms, and its timeline shows every step.
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
const port = Number(process.env.GESANG_CASES_PORT ?? 18185);
const base = `http://127.0.0.1:${port}`;
const shots = join(here, 'screenshots');

const TOWNSHIP = '623027202'; // 达麦乡
const GRID = '623027202201001'; // the first grid of 达麦村
const POLICE = `${TOWNSHIP}-police`;

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
  dataDir = mkdtempSync(join(tmpdir(), 'gesang-cases-'));
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

async function signedIn(user) {
  const ctx = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1200, height: 900 } });
  const p = await ctx.newPage();
  await p.goto(`${base}/login?next=/cases`);
  await p.fill('input[name=username]', user);
  await p.fill('input[name=password]', 'gesang-demo');
  await p.click('main form button[type=submit]');
  assert.match(p.url(), /\/cases$/, `${user} lands on the queue`);
  return p;
}

/// The form of one action on the case page.
const form = (action) => `form:has(input[name=action][value=${action}])`;

/// Act through a form that has fields: open its <details>, let `fill` fill it, submit.
async function act(p, action, fill) {
  await p.click(`details:has(${form(action)}) > summary`);
  await fill(p.locator(form(action)));
  await p.click(`${form(action)} button[type=submit]`);
}

async function status(p) {
  return (await p.textContent('.badges .status')).trim();
}

test('a case runs from report to closed through the centre and department pages', async () => {
  // The case comes in through the API, as a walk-in at the township centre.
  const token = await (await fetch(`${base}/api/v1/auth/token`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: `center-${TOWNSHIP}`, password: 'gesang-demo' }),
  })).json();
  const tag = `journey${Date.now()}`;
  const created = await fetch(`${base}/api/v1/cases`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token.token}` },
    body: JSON.stringify({
      category: 'attention.security.theft',
      description: `牧民家中三头牦牛夜间被盗，请派出所处理 ${tag}`,
      territory: GRID,
    }),
  });
  assert.equal(created.status, 201);
  const kase = await created.json();
  assert.equal(kase.status, 'submitted');
  assert.equal(kase.territory, GRID);

  // The township centre finds it in its queue by search, accepts it and dispatches it.
  const centre = await signedIn(`center-${TOWNSHIP}`);
  await centre.fill('input[name=q]', tag);
  await centre.click('form.filters button[type=submit]');
  const rows = await centre.$$('ol.cases li.case-row');
  assert.equal(rows.length, 1, 'the search finds exactly the new case');
  assert.match(await centre.textContent('ol.cases'), /牦牛/);
  await centre.screenshot({ path: join(shots, 'cases-queue.png'), fullPage: true });
  await centre.click(`ol.cases a.code:text("${kase.code}")`);
  assert.match(await centre.textContent('h1'), /牦牛|盗窃/);
  assert.equal(await status(centre), '待受理');
  await centre.click(`${form('accept')} button`);
  assert.equal(await status(centre), '已受理');
  await act(centre, 'dispatch', async (f) => {
    await f.locator('select[name=to]').selectOption(POLICE);
  });
  assert.equal(await status(centre), '已派遣');
  await centre.screenshot({ path: join(shots, 'case-dispatched.png'), fullPage: true });

  // The police station signs for it and reports it handled.
  const police = await signedIn(`handler-${POLICE}`);
  await police.goto(`${base}/cases/${kase.code}`);
  await police.click(`${form('sign')} button`);
  assert.equal(await status(police), '办理中');
  await act(police, 'report_handled', async (f) => {
    await f.locator('select[name=result]').selectOption('solved');
    await f.locator('textarea[name=text]').fill('已找回牦牛三头，归还牧民');
  });
  assert.equal(await status(police), '已处置');
  // Verifying is not the station's to do.
  assert.equal(await police.$(form('verify')), null);

  // The centre verifies, visits the reporter and the case closes.
  await centre.goto(`${base}/cases/${kase.code}`);
  await act(centre, 'verify', async (f) => {
    await f.locator('input[name=passed][value=yes]').check();
  });
  assert.equal(await status(centre), '待回访');
  await act(centre, 'revisit', async (f) => {
    await f.locator('input[name=satisfaction][value=satisfied]').check();
  });
  if (await status(centre) !== '已办结') {
    await centre.click(`${form('close')} button`);
  }
  assert.equal(await status(centre), '已办结');
  const timeline = await centre.$$eval('ol.timeline li .what strong', (s) => s.map((e) => e.textContent.trim()));
  assert.ok(timeline.length >= 7, `every step is on the timeline: ${timeline}`);
  await centre.screenshot({ path: join(shots, 'case-closed.png'), fullPage: true });

  // The API agrees.
  const final = await (await fetch(`${base}/api/v1/cases/${kase.id}`, {
    headers: { authorization: `Bearer ${token.token}` },
  })).json();
  assert.equal(final.status, 'closed');
  assert.equal(final.result, 'solved');
  assert.equal(final.satisfaction, 'satisfied');
  assert.deepEqual(
    final.history.map((h) => h.action).filter((a) => a !== 'create' && a !== 'close'),
    ['accept', 'dispatch', 'sign', 'report_handled', 'verify', 'revisit'],
  );
  await centre.context().close();
  await police.context().close();
});
