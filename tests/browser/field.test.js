// Browser journey of the field app (/field) at a phone's size, in Debian's chromium driven by
// playwright-core, against the binary on a fresh small demo (夏河县):
//  1. a grid worker signs in; the app shell's first-load transfer is measured (≤ 150 KB);
//  2. the phone goes offline; the worker files three reports (关注类, 管理类, 服务类) and a
//     propaganda log (政策宣传), which wait in the outbox ("4 waiting to send");
//  3. the signal returns; the outbox empties by itself, and the server holds exactly three cases
//     and one log, counted once in /api/v1/stats (and still once after a reload);
//  4. offline again, the worker self-handles one of the cases while its centre rejects it; back
//     online, the refusal is shown with the server's reason and kept;
//  5. a household head files a zero report (零报告), counted in /api/v1/stats;
//  6. the household head's simpler home (big buttons: report, notices, daily report, roll call):
//     a notice from the village centre is acknowledged offline, sent when the signal returns,
//     and the centre's page shows the acknowledgement once (still once after a reload); a
//     photo too large is refused with a message, a large one is resized before it is sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const bin = process.env.GESANG_BIN
  ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'release', 'gesang');
const port = Number(process.env.GESANG_FIELD_PORT ?? 18186);
const base = `http://127.0.0.1:${port}`;
const shots = join(here, 'screenshots');

const GRID = '623027202201001'; // the first grid of 达麦村, 达麦乡
const WORKER = `worker-${GRID}`;
const GROUP = `${GRID}001`;
const HEAD = `head-${GROUP}`;
const TAG = `field-${Date.now()}`;
const SHELL_BUDGET = 150 * 1024;

let server, dataDir, browser;

async function waitHealthy() {
  for (let i = 0; i < 900; i++) {
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
  dataDir = mkdtempSync(join(tmpdir(), 'gesang-field-'));
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

async function token(user) {
  const r = await fetch(`${base}/api/v1/auth/token`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: user, password: 'gesang-demo' }),
  });
  assert.equal(r.status, 200, `token for ${user}`);
  return (await r.json()).token;
}

async function api(tok, path, init = {}) {
  const r = await fetch(`${base}${path}`, {
    ...init, headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json', ...(init.headers ?? {}) },
  });
  const body = await r.json().catch(() => null);
  return { status: r.status, body };
}

function today() {
  return new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
}

async function stats(tok, territory) {
  const d = today();
  const r = await api(tok, `/api/v1/stats?territory=${territory}&from=${d}&to=${d}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/// A phone: a small screen, touch, Chinese.
async function phone() {
  return browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    locale: 'zh-CN',
  });
}

/// Sign in through the ordinary sign-in page the field app sends a signed-out phone to.
async function signInToField(ctx, user) {
  const p = await ctx.newPage();
  await p.goto(`${base}/field`);
  await p.waitForURL(/\/login\?next=/);
  await p.fill('input[name=username]', user);
  await p.fill('input[name=password]', 'gesang-demo');
  return p;
}

async function waitReady(p) {
  await p.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
}

const waiting = (p) => p.$eval('#outbox-button', (b) => Number(b.dataset.waiting || 0));

test('a grid worker works offline; everything arrives once; a household head files a zero report', async () => {
  const admin = await token('admin');
  const ctx = await phone();

  // 1. The shell's first load, measured from the wire: every request for the shell made on
  // the network (by the page and by the service worker's precache), headers and body as
  // transferred (compressed), from the first visit through sign-in until the worker is ready.
  const shell = [];
  const isShell = (path) => path === '/field' || path.startsWith('/static/field/')
    || (path.startsWith('/field/') && path !== '/field/token');
  ctx.on('requestfinished', async (req) => {
    const url = new URL(req.url());
    if (!isShell(url.pathname)) return;
    const resp = await req.response();
    if (!resp || resp.fromServiceWorker()) return; // answered from the cache, no transfer
    const sz = await req.sizes();
    shell.push({ path: url.pathname + url.search, by: req.serviceWorker() ? 'service-worker' : 'page',
      status: resp.status(), bytes: sz.responseHeadersSize + sz.responseBodySize,
      encoding: resp.headers()['content-encoding'] ?? '' });
  });
  const p = await signInToField(ctx, WORKER);
  await p.click('main form button[type=submit]');
  await p.waitForURL(/\/field$/);
  await waitReady(p);
  await p.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await p.waitForTimeout(1000);
  const total = shell.reduce((n, r) => n + r.bytes, 0);
  const report = {
    measured: 'playwright Request.sizes() (response headers + body as transferred) of every network request for the shell (/field, /field/*, /static/field/*) by the page and its service worker, first visit of a fresh phone through sign-in until the service worker is ready',
    total_bytes: total, total_kib: +(total / 1024).toFixed(1), budget_bytes: SHELL_BUDGET, resources: shell,
  };
  console.log('field shell first load:', JSON.stringify(report));
  writeFileSync(join(shots, 'field-shell-size.json'), JSON.stringify(report, null, 2));
  assert.ok(shell.some((r) => r.path === '/static/field/app.js'), 'the app script was loaded');
  assert.ok(shell.some((r) => r.path === '/static/field/app.js' && r.encoding === 'gzip'), 'scripts are sent compressed');
  assert.ok(total <= SHELL_BUDGET, `shell ${total} bytes > ${SHELL_BUDGET}`);
  await p.screenshot({ path: join(shots, 'field-tasks.png'), fullPage: true });

  // 2. Offline: three reports and a propaganda log wait in the outbox.
  await ctx.setOffline(true);
  await p.waitForSelector('#net.off');
  await p.click('a[data-screen=report]');
  const reports = [
    ['attention', 'attention.dispute.neighbour', '邻里为院墙起争执'],
    ['management', 'management.environment.garbage', '河边堆了垃圾'],
    ['service', 'service.policy', '老人问高龄补贴怎么领'],
  ];
  for (const [cls, category, text] of reports) {
    await p.click(`button[data-class=${cls}]`);
    await p.selectOption('#report-form select[name=category]', category);
    await p.fill('#report-form textarea[name=description]', `${text} ${TAG}`);
    await p.click('#report-form button[type=submit]');
    await p.waitForFunction(() => document.querySelector('#report-form textarea').value === '');
  }
  await p.click('a[data-screen=logs]');
  await p.click('button[data-kind=propaganda]');
  await p.fill('#log-form input[name=topic]', `草原防火 ${TAG}`);
  await p.fill('#log-form input[name=place]', '达麦村村委会');
  await p.fill('#log-form input[name=attendees]', '35');
  await p.click('#log-form button[type=submit]');
  await p.waitForFunction(() => Number(document.querySelector('#outbox-button').dataset.waiting) === 4);
  assert.equal(await waiting(p), 4);
  assert.match(await p.textContent('#outbox-button'), /4 条待发送/);
  await p.click('#outbox-button');
  await p.waitForSelector('.outbox-list li[data-state=waiting]');
  assert.equal(await p.locator('.outbox-list li[data-state=waiting]').count(), 4);
  await p.screenshot({ path: join(shots, 'field-offline-outbox.png'), fullPage: true });
  // Nothing reached the server while offline.
  assert.equal((await stats(admin, GRID)).cases_total, 0);

  // 3. The signal returns: the outbox empties itself, in order, once.
  await ctx.setOffline(false);
  await p.waitForFunction(() => document.querySelector('#outbox-button').hidden, null, { timeout: 30000 });
  const cases = await api(admin, `/api/v1/cases?territory=${GRID}&limit=100`);
  const ours = cases.body.items.filter((c) => c.description.includes(TAG));
  assert.equal(ours.length, 3, 'exactly three cases');
  assert.deepEqual(ours.map((c) => c.category).sort(), reports.map((r) => r[1]).sort());
  assert.ok(ours.every((c) => c.channel === 'field_app'));
  const workerToken = await token(WORKER);
  const logs = await api(workerToken, '/api/v1/worklogs?kind=propaganda');
  assert.equal(logs.body.filter((l) => l.details.topic.includes(TAG)).length, 1, 'exactly one log');
  let s = await stats(admin, GRID);
  assert.equal(s.cases_total, 3);
  assert.equal(s.propaganda_sessions, 1);
  assert.equal(s.propaganda_attendees, 35);
  const village = await stats(admin, GRID.slice(0, 12));
  assert.equal(village.cases_total, 3, 'counted once up the tree');
  // A reload (which flushes again) sends nothing twice.
  await p.reload();
  await waitReady(p);
  await p.waitForTimeout(1000);
  s = await stats(admin, GRID);
  assert.equal(s.cases_total, 3);
  assert.equal(s.propaganda_sessions, 1);

  // My area: groups with their heads, and households as the role may see them (a grid worker
  // needs his households' phones; the API masks them for roles that do not).
  await p.click('a[data-screen=area]');
  await p.waitForSelector('ul.households li');
  assert.ok(await p.locator('ul.households li').count() > 0);
  assert.match(await p.textContent('ul.households'), /\d{11}/, 'a grid worker sees the phones');
  assert.ok(await p.locator('#sign-out').count() === 1);
  await p.screenshot({ path: join(shots, 'field-area.png'), fullPage: true });

  // 4. A refusal after an offline period is shown with the reason, not dropped.
  await p.click('a[data-screen=tasks]');
  await p.waitForSelector('article.task');
  await p.screenshot({ path: join(shots, 'field-tasks-online.png'), fullPage: true });
  const target = ours.find((c) => c.category === 'management.environment.garbage');
  await ctx.setOffline(true);
  const card = p.locator(`article.task[data-code="${target.code}"]`);
  await card.locator('button', { hasText: '自处理' }).click();
  await card.locator('textarea[name=text]').fill('已当场清理');
  await card.locator('.task-form button[type=submit]').click();
  await p.waitForFunction(() => Number(document.querySelector('#outbox-button').dataset.waiting) === 1);
  const centre = await token(`center-${target.centre}`);
  const rejected = await api(centre, `/api/v1/cases/${target.id}/actions`, {
    method: 'POST', body: JSON.stringify({ action: 'reject', reason: `重复上报 ${TAG}` }),
  });
  assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
  await ctx.setOffline(false);
  await p.waitForFunction(() => Number(document.querySelector('#outbox-button').dataset.refused) === 1, null, { timeout: 30000 });
  await p.click('#outbox-button');
  const refused = p.locator('.outbox-list li[data-state=refused]');
  await refused.waitFor();
  assert.match(await refused.textContent(), /被退回/);
  assert.match(await refused.locator('.reason').textContent(), /self_handle|not allowed|rejected/);
  await p.screenshot({ path: join(shots, 'field-refused.png'), fullPage: true });
  await refused.locator('button').click();
  await p.waitForFunction(() => document.querySelector('#outbox-button').hidden);
  await ctx.close();

  // 5. A household head's zero report.
  const hctx = await phone();
  const hp = await signInToField(hctx, HEAD);
  await hp.click('main form button[type=submit]');
  await hp.waitForURL(/\/field$/);
  await waitReady(hp);
  assert.equal(await hp.locator('a[data-screen=tasks]').count(), 0, 'no task list for a household head');
  // The simpler home: four big buttons.
  await hp.waitForSelector('#screen[data-screen=home] .home-button');
  assert.deepEqual(await hp.$$eval('.home-button', (as) => as.map((a) => a.dataset.go)),
    ['report', 'notices', 'daily', 'rollcall']);
  await hp.screenshot({ path: join(shots, 'field-head-home.png'), fullPage: true });
  await hp.click('a[data-go=daily]');
  await hp.click('#zero-report');
  await hp.waitForFunction(() => document.querySelector('#outbox-button').hidden, null, { timeout: 30000 });
  const headToken = await token(HEAD);
  const mine = await api(headToken, '/api/v1/daily-reports');
  assert.equal(mine.body[0].date, today());
  assert.equal(mine.body[0].nothing_to_report, true);
  const g = await stats(admin, GROUP);
  assert.equal(g.daily_reports_received, 1);
  assert.equal(g.zero_reports, 1);
  await hp.evaluate(() => { location.hash = '#daily'; });
  await hp.waitForSelector('#zero-report');
  await hp.screenshot({ path: join(shots, 'field-head-daily.png'), fullPage: true });
  // The same app in Tibetan.
  await hp.goto(`${base}/field?lang=bo#daily`);
  await waitReady(hp);
  assert.match(await hp.textContent('#zero-report'), /ཀླད་ཀོར/);
  await hp.screenshot({ path: join(shots, 'field-head-daily-bo.png'), fullPage: true });

  // 6. A notice from the village centre, acknowledged offline from the simpler home.
  const villageCentre = `center-${GRID.slice(0, 12)}`;
  const sender = await token(villageCentre);
  const sent = await api(sender, '/api/v1/notices', { method: 'POST', body: JSON.stringify({
    title: `防汛通知 ${TAG}`, text: '今晚有强降雨，请逐户提醒。', title_bo: 'ཆུ་ལོག་སྔོན་འགོག',
    territories: [GRID], audience: ['household_heads'] }) });
  assert.equal(sent.status, 201, JSON.stringify(sent.body));
  const noticeId = sent.body.id;
  assert.ok(sent.body.recipients_total >= 1);
  await hp.goto(`${base}/field?lang=zh`);
  await waitReady(hp);
  await hp.waitForFunction(() => /1/.test(document.querySelector('[data-count=notices]')?.textContent || ''));
  await hp.click('a[data-go=notices]');
  const notice = hp.locator(`article.notice[data-id="${noticeId}"]`);
  await notice.waitFor();
  assert.equal(await notice.getAttribute('data-state'), 'unread');
  await hctx.setOffline(true);
  await hp.waitForSelector('#net.off');
  await notice.locator('.notice-open').click();
  await notice.locator('button.ack').click();
  await hp.waitForFunction(() => Number(document.querySelector('#outbox-button').dataset.waiting) === 1);
  await hp.waitForSelector(`article.notice[data-id="${noticeId}"][data-state=waiting]`);
  await hp.screenshot({ path: join(shots, 'field-head-notice-offline.png'), fullPage: true });
  const before = await api(sender, `/api/v1/notices/${noticeId}`);
  assert.equal(before.body.notice.acknowledged, 0, 'nothing reached the server offline');
  await hctx.setOffline(false);
  await hp.waitForFunction(() => document.querySelector('#outbox-button').hidden, null, { timeout: 30000 });
  await hp.waitForSelector(`article.notice[data-id="${noticeId}"][data-state=acknowledged]`, { timeout: 30000 });
  // A reload flushes again: nothing is sent twice.
  await hp.reload();
  await waitReady(hp);
  await hp.waitForTimeout(1000);
  const after = await api(sender, `/api/v1/notices/${noticeId}`);
  assert.equal(after.body.notice.acknowledged, 1, JSON.stringify(after.body.notice));
  const acked = after.body.recipients.filter((r) => r.acknowledged_at);
  assert.deepEqual(acked.map((r) => r.username), [HEAD]);
  // The sender's page shows it once.
  const sctx = await browser.newContext();
  const sp = await sctx.newPage();
  await sp.goto(`${base}/login?next=${encodeURIComponent(`/notices/${noticeId}`)}`);
  await sp.fill('input[name=username]', villageCentre);
  await sp.fill('input[name=password]', 'gesang-demo');
  await sp.click('main form button[type=submit]');
  await sp.waitForURL(new RegExp(`/notices/${noticeId}$`));
  assert.equal(await sp.getAttribute('#notice-acks', 'data-acknowledged'), '1');
  assert.equal(await sp.locator(`#notice-done tr[data-username="${HEAD}"]`).count(), 1);
  assert.equal(await sp.locator(`#notice-pending tr[data-username="${HEAD}"]`).count(), 0);
  await sp.screenshot({ path: join(shots, 'field-notice-sender.png'), fullPage: true });
  await sp.goto(`${base}/notices`);
  assert.ok(await sp.locator('a[href="/notices"]').count() >= 1, 'the centre navigation links the notices');
  await sctx.close();

  // Photos: one too large (and not an image this phone can shrink) is refused with a message
  // and nothing is queued; a large picture is resized to a long side of 1600 px before it goes.
  await hp.evaluate(() => { location.hash = '#report'; });
  await hp.click('button[data-class=service]');
  await hp.fill('#report-form textarea[name=description]', `照片测试 ${TAG}`);
  await hp.setInputFiles('#report-form input[type=file]', {
    name: 'huge.jpg', mimeType: 'image/jpeg', buffer: Buffer.alloc(9 * 1024 * 1024, 7) });
  await hp.click('#report-form button[type=submit]');
  const toastText = await hp.locator('.toast.error').textContent();
  assert.match(toastText, /huge\.jpg.*太大/);
  assert.equal(await hp.$eval('#outbox-button', (b) => b.hidden), true, 'nothing queued');
  await hp.evaluate(async () => {
    const c = document.createElement('canvas');
    c.width = 4000; c.height = 3000;
    const g = c.getContext('2d');
    for (let i = 0; i < 200; i++) { g.fillStyle = `hsl(${i * 7},70%,50%)`; g.fillRect((i * 97) % 4000, (i * 53) % 3000, 400, 300); }
    const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
    const dt = new DataTransfer();
    dt.items.add(new File([blob], 'big.png', { type: 'image/png' }));
    document.querySelector('#report-form input[type=file]').files = dt.files;
  });
  await hp.click('#report-form button[type=submit]');
  await hp.waitForFunction(() => document.querySelector('#report-form textarea').value === '');
  // The case goes first, then its photo: wait until both are on the server.
  let photoCase, files;
  for (let i = 0; i < 60 && !(files?.body?.items?.length); i++) {
    await new Promise((r) => setTimeout(r, 500));
    const headCases = await api(admin, `/api/v1/cases?territory=${GRID}&limit=50`);
    photoCase = headCases.body.items.find((c) => c.description.includes(`照片测试 ${TAG}`));
    if (photoCase) files = await api(admin, `/api/v1/cases/${photoCase.id}/attachments`);
  }
  assert.ok(photoCase, 'the report with a photo arrived');
  await hp.waitForFunction(() => document.querySelector('#outbox-button').hidden, null, { timeout: 30000 });
  files = await api(admin, `/api/v1/cases/${photoCase.id}/attachments`);
  assert.equal(files.body.items.length, 1, 'one photo, once');
  assert.equal(Math.max(files.body.items[0].width, files.body.items[0].height), 1600, JSON.stringify(files.body.items[0]));
  await hctx.close();
});
