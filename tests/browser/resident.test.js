// The resident journey at a phone's size, in Tibetan, with JavaScript on (the page resizes the
// photo in the browser): report with a photo, follow the code, let the centre take the case to
// the return visit through the API as the demo accounts do, and rate it from the tracking page.
// Screenshots of the report page in Chinese and Tibetan are kept in screenshots/ (git-ignored).
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
const port = Number(process.env.GESANG_RESIDENT_PORT ?? 18182);
const base = `http://127.0.0.1:${port}`;
const shots = join(here, 'screenshots');
const photo = join(root, 'crates', 'domain', 'testdata', 'photo-gps.jpg');
const VILLAGE = '623027202201';
const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

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
  dataDir = mkdtempSync(join(tmpdir(), 'gesang-resident-'));
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

async function api(path, token, body) {
  const r = await fetch(`${base}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await r.json();
  assert.ok(r.ok, `${path}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

const token = async (user) => (await api('/api/v1/auth/token', null, { username: user, password: 'gesang-demo' })).token;

test('a herder reports in Tibetan with a photo, follows the code and rates the closed case', async () => {
  const ctx = await browser.newContext(phone);
  const p = await ctx.newPage();
  await p.goto(`${base}/report?lang=bo`);
  assert.equal(await p.getAttribute('html', 'lang'), 'bo');
  assert.match(await p.textContent('h1'), /དོན་དག་སྙན་ཞུ།/);
  // The served Tibetan font is loaded, and used.
  await p.evaluate(() => document.fonts.ready);
  assert.ok(await p.evaluate(() => document.fonts.check('16px "Gesang Tibetan"', 'ཀ')), 'the Tibetan font is loaded');
  await p.screenshot({ path: join(shots, 'report-bo-start.png'), fullPage: true });

  await p.click('a.rclass-management');
  await p.click(`.rcounties a[href*="county=623027"]`);
  await p.check('input[name=category][value="management.environment.garbage"]');
  await p.selectOption('select[name=village]', VILLAGE);
  const tag = `zqbrowser${Date.now()}`;
  await p.fill('textarea[name=description]', `ལམ་ཁའི་འགྲམ་དུ་གད་སྙིགས་མང་པོ་བསགས་ཡོད། ${tag}`);
  await p.setInputFiles('input[name=photo]', photo);
  await p.screenshot({ path: join(shots, 'report-bo.png'), fullPage: true });
  await Promise.all([p.waitForURL(/\/track\/[0-9A-Z-]{19}/), p.click('button[type=submit].rbutton')]);

  const code = (await p.textContent('#tracking-code')).trim();
  assert.match(code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  assert.match(await p.textContent('.rnotice'), /ཁྱེད་ཀྱི་སྙན་ཞུ་འབྱོར་སོང་།/);
  assert.equal(await p.locator('.rphotos img').count(), 1, 'the photo came with the report');
  await p.screenshot({ path: join(shots, 'track-bo.png'), fullPage: true });

  // Follow the code from another phone: type it on the tracking page.
  const other = await (await browser.newContext(phone)).newPage();
  await other.goto(`${base}/track?lang=bo`);
  await other.fill('input[name=code]', code.toLowerCase().replaceAll('-', ''));
  await Promise.all([other.waitForURL(/\/track\/[0-9A-Z-]{19}$/), other.click('button[type=submit]')]);
  assert.equal((await other.textContent('#tracking-code')).trim(), code);

  // The centre takes it to the return visit, as the demo accounts do through the API.
  const centre = await token(`center-${VILLAGE}`);
  const found = await api(`/api/v1/cases?q=${tag}`, centre);
  assert.equal(found.items.length, 1);
  const id = found.items[0].id;
  assert.equal(found.items[0].channel, 'resident_page');
  for (const body of [{ action: 'accept' },
    { action: 'report_handled', result: 'solved', text: 'cleared' },
    { action: 'verify', passed: true }]) {
    await api(`/api/v1/cases/${id}/actions`, centre, body);
  }

  // Back on the tracking page: rate it.
  await p.reload();
  await p.check('input[name=satisfaction][value=satisfied]');
  await Promise.all([p.waitForURL(/rated=1/), p.click('#rate-form button[type=submit]')]);
  assert.match(await p.textContent('.rnotice'), /བཀའ་དྲིན་ཆེ།/);
  assert.match(await p.textContent('#stage'), /མཇུག་སྒྲིལ་ཟིན།/);
  const c = await api(`/api/v1/cases/${id}`, centre);
  assert.equal(c.status, 'closed');
  assert.equal(c.satisfaction, 'satisfied');
  assert.equal(c.history.at(-1).action, 'revisit');
  assert.equal(c.history.at(-1).by, null, 'the reporter, not an operator, answered');
});

test('the report page in Chinese, and the Tibetan one without JavaScript', async () => {
  const zh = await (await browser.newContext(phone)).newPage();
  await zh.goto(`${base}/report?class=management&county=623027&lang=zh`);
  assert.equal(await zh.getAttribute('html', 'lang'), 'zh-CN');
  assert.equal(await zh.locator('link[href="/static/resident-bo.css"]').count(), 0, 'no Tibetan font on Chinese pages');
  await zh.screenshot({ path: join(shots, 'report-zh.png'), fullPage: true });
  const plain = await (await browser.newContext({ ...phone, javaScriptEnabled: false })).newPage();
  await plain.goto(`${base}/report?class=service&county=623027&lang=bo`);
  await plain.check('input[name=category][value="service.policy"]');
  await plain.selectOption('select[name=village]', VILLAGE);
  await plain.fill('textarea[name=description]', 'སྲིད་ཇུས་བློ་འདྲི།');
  await Promise.all([plain.waitForURL(/\/track\//), plain.click('button[type=submit].rbutton')]);
  assert.match(await plain.textContent('#stage'), /འབྱོར་ཟིན།/);
});
