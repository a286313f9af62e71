// Browser journey of the war room (/center), in Debian's chromium driven by playwright-core,
// against the release binary on a fresh small demo (夏河县), JavaScript on: the leader of
// 达麦乡 opens the war room, a grid worker reports a case through the API, and the case
// appears live — at the top of the live list, in the open count of its village, flashing on
// the map — without a reload. Then the leader clicks the village on the map and lands on its
// war room.
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
const port = Number(process.env.GESANG_CENTER_PORT ?? 18188);
const base = `http://127.0.0.1:${port}`;
const shots = join(here, 'screenshots');

const TOWNSHIP = '623027202'; // 达麦乡
const VILLAGE = '623027202201'; // 达麦村
const GRID = '623027202201001';

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
  dataDir = mkdtempSync(join(tmpdir(), 'gesang-center-'));
  server = spawn(bin, ['--data-dir', dataDir, 'serve', '--demo', '--demo-scale', 'small',
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

async function token(user) {
  const r = await fetch(`${base}/api/v1/auth/token`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password: 'gesang-demo' }),
  });
  assert.equal(r.status, 200);
  return (await r.json()).token;
}

test('the leader sees a new case appear live in the war room', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const p = await ctx.newPage();
  const errors = [];
  p.on('pageerror', (e) => errors.push(String(e)));
  // A refused script or stream would show as a console error; the browser's own favicon probe
  // is the one 404 a page without a favicon gets.
  p.on('console', (m) => { if (m.type() === 'error' && !/404/.test(m.text())) errors.push(m.text()); });
  p.on('response', (res) => {
    if (res.status() >= 400 && !res.url().endsWith('/favicon.ico')) errors.push(`${res.status()} ${res.url()}`);
  });
  await p.goto(`${base}/login?next=/center`);
  await p.fill('input[name=username]', `leader-${TOWNSHIP}`);
  await p.fill('input[name=password]', 'gesang-demo');
  await p.click('main form button[type=submit]');
  assert.match(p.url(), /\/center$/);
  await p.waitForSelector('svg.map');
  // The stream is open (the script marks it).
  await p.waitForSelector('#live-state.on', { timeout: 10000 });
  const openBefore = Number(await p.textContent('#center-open'));
  const villageOpen = `#center-children tr[data-child="${VILLAGE}"] a.open`;
  const villageBefore = Number(await p.textContent(villageOpen));

  const worker = await token(`worker-${GRID}`);
  const r = await fetch(`${base}/api/v1/cases`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${worker}` },
    body: JSON.stringify({
      category: 'attention.security.theft', description: '作战室浏览器测试：牧场围栏被盗',
      territory: GRID,
    }),
  });
  assert.equal(r.status, 201);
  const created = await r.json();

  const item = p.locator('#live-list li.created', { hasText: created.code });
  await item.waitFor({ timeout: 10000 });
  assert.equal(await item.locator('a').getAttribute('href'), `/cases/${created.id}`);
  assert.equal(Number(await p.textContent('#center-open')), openBefore + 1);
  assert.equal(Number(await p.textContent(villageOpen)), villageBefore + 1);
  assert.ok(await p.locator(`#center-map a[href="/center?territory=${VILLAGE}"] path.flash`).count() >= 1,
    'the village flashes on the map');
  await p.screenshot({ path: join(shots, 'center-live.png'), fullPage: true });

  // Drill down by the map.
  await p.click(`#center-map a[href="/center?territory=${VILLAGE}"]`);
  await p.waitForURL(`**/center?territory=${VILLAGE}`);
  assert.match(await p.textContent('h1'), /达麦村/);
  assert.deepEqual(errors, [], 'no script errors (CSP allows the page\'s own script)');
  await ctx.close();
});

// The daily report of a demo day and the assessment of a demo month, reviewed by eye: the
// screenshots are kept in tests/browser/screenshots/. Until the demo carries a case history,
// the day's cases and reports are made here through the API.
test('the leader reads the daily report and the month\'s assessment', async () => {
  const centre = await token(`center-${TOWNSHIP}`);
  const worker = await token(`worker-${GRID}`);
  const post = async (path, tok, body) => {
    const r = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    assert.equal(r.status, 201, `${path}: ${text}`);
    return JSON.parse(text);
  };
  for (const [category, description] of [
    ['attention.security.theft', '牧场围栏被盗'],
    ['attention.security.theft', '摩托车被盗'],
    ['attention.dispute.pasture', '草场边界纠纷'],
  ]) {
    await post('/api/v1/cases', centre, { category, description, territory: GRID });
  }
  const day = new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10); // Asia/Shanghai
  await post('/api/v1/daily-reports', worker, { date: day, nothing_to_report: true });

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const p = await ctx.newPage();
  const errors = [];
  p.on('pageerror', (e) => errors.push(String(e)));
  await p.goto(`${base}/login?next=/center/daily?territory=${VILLAGE}`);
  await p.fill('input[name=username]', `leader-${TOWNSHIP}`);
  await p.fill('input[name=password]', 'gesang-demo');
  await p.click('main form button[type=submit]');
  await p.waitForSelector('#collection-counts');
  const counts = p.locator('#collection-counts');
  assert.ok(Number(await counts.getAttribute('data-reported')) >= 1, 'the worker\'s zero report');
  assert.ok(Number(await counts.getAttribute('data-missing')) >= 1, 'someone has not reported');
  assert.equal(await p.locator(`tr.report-zero[data-account="worker-${GRID}"]`).count(), 1);
  assert.ok(await p.locator('#daily-categories svg.chart a').count() >= 1, 'the category chart');
  await p.screenshot({ path: join(shots, 'center-daily.png'), fullPage: true });

  // The figure opens its cases: the day's count equals the rows of its list.
  const heading = await p.textContent('#daily-cases');
  const n = Number(heading.match(/(\d+)/)[1]);
  await p.click('#daily-cases');
  await p.waitForURL(/\/cases\?/);
  assert.equal(await p.locator('li.case-row').count(), n);

  await p.goto(`${base}/center/daily?territory=${VILLAGE}&lang=bo`);
  await p.waitForSelector('#collection-counts');
  assert.match(await p.textContent('h1'), /ཉིན་རེའི་བསྡུ་ལེན/);
  await p.screenshot({ path: join(shots, 'center-daily-bo.png'), fullPage: true });

  await p.goto(`${base}/center/assessment?territory=${TOWNSHIP}&lang=zh`);
  await p.waitForSelector('#assess-units');
  assert.ok(await p.locator('#assess-persons tbody tr').count() >= 1, 'grid workers are assessed');
  await p.screenshot({ path: join(shots, 'center-assessment.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await ctx.close();
});
