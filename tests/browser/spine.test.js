// Browser journeys for the platform spine, in Debian's chromium driven by playwright-core,
// against the release binary on a fresh small demo (夏河县). JavaScript is switched off in the
// page context: every page must work without it.
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
const port = Number(process.env.GESANG_BROWSER_PORT ?? 18181);
const base = `http://127.0.0.1:${port}`;
const shots = join(here, 'screenshots');

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
  dataDir = mkdtempSync(join(tmpdir(), 'gesang-browser-'));
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

async function page(opts = {}) {
  const ctx = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1200, height: 900 }, ...opts });
  return ctx.newPage();
}

async function signIn(p, user) {
  await p.fill('input[name=username]', user);
  await p.fill('input[name=password]', 'gesang-demo');
  await p.click('main form button[type=submit]');
}

test('an operator drills down from the prefecture map to the households of a grid', async () => {
  const p = await page();
  await p.goto(`${base}/`);
  assert.equal(await p.getAttribute('html', 'lang'), 'zh-CN');
  assert.match(await p.textContent('h1'), /甘南藏族自治州/);
  // The small demo holds the prefecture and 夏河县 only: one county shape on the map.
  const shapes = await p.$$('svg.map a');
  assert.ok(shapes.length >= 1, 'the map has county shapes');
  await p.screenshot({ path: join(shots, 'home.png'), fullPage: true });

  await p.click('svg.map a[href="/territory/623027"]');
  assert.match(p.url(), /\/login\?next=\/territory\/623027/, 'the drill-down asks to sign in');
  await signIn(p, 'center-623027');
  assert.match(p.url(), /\/territory\/623027$/);
  assert.match(await p.textContent('h1'), /夏河县/);
  assert.match(await p.textContent('main'), /达麦乡/);
  await p.screenshot({ path: join(shots, 'county.png'), fullPage: true });

  await p.click('svg.map a[href="/territory/623027202"]');
  assert.match(await p.textContent('h1'), /达麦乡/);
  const households = Number((await p.textContent('.tiles li:first-child .n')).trim());
  assert.ok(households > 0, 'the township has households');
  await p.click('svg.map a[href="/territory/623027202201"]');
  assert.match(await p.textContent('h1'), /达麦村/);
  await p.screenshot({ path: join(shots, 'village.png'), fullPage: true });

  await p.click('svg.map a[href="/territory/623027202201001"]');
  assert.match(await p.textContent('.meta'), /网格/);
  const phones = await p.$$eval('#households tbody tr td:nth-child(3)', (tds) => tds.map((t) => t.textContent));
  assert.ok(phones.length > 0, 'the grid lists households');
  assert.ok(phones.every((t) => t.includes('****')), 'a centre operator sees phones masked');
  await p.screenshot({ path: join(shots, 'grid.png'), fullPage: true });

  await p.goto(`${base}/territory/623026`);
  assert.match(await p.textContent('main'), /不在您的辖区/);
  await p.context().close();
});

test('the grid worker sees his households unmasked and can search people', async () => {
  const p = await page();
  await p.goto(`${base}/login?next=/territory/623027202201001`);
  await signIn(p, 'worker-623027202201001');
  const phones = await p.$$eval('#households tbody tr td:nth-child(3)', (tds) => tds.map((t) => t.textContent));
  assert.ok(phones.length > 0 && phones.every((t) => /^1\d{10}$/.test(t.trim())), 'phones are shown in full');
  const name = (await p.textContent('#households tbody tr td:first-child')).trim();
  await p.goto(`${base}/people`);
  await p.fill('input[name=q]', name);
  await p.click('form.search button');
  assert.match(p.url(), /\/people\?q=/);
  assert.match(await p.textContent('main'), new RegExp(name), 'the household head is found by name');
  await p.context().close();
});

test('the language switch is remembered and signing out ends the session', async () => {
  const p = await page();
  await p.goto(`${base}/login`);
  await signIn(p, 'leader-623027202');
  await p.goto(`${base}/territory/623027202?lang=en`);
  assert.match(await p.textContent('header'), /Sign out/);
  await p.goto(`${base}/`);
  assert.equal(await p.getAttribute('html', 'lang'), 'en', 'English is remembered');
  await p.goto(`${base}/?lang=bo`);
  assert.equal(await p.getAttribute('html', 'lang'), 'bo');
  assert.match(await p.textContent('header'), /[\u0F00-\u0FFF]/, 'Tibetan text is shown');
  await p.screenshot({ path: join(shots, 'home-bo.png') });
  await p.goto(`${base}/?lang=zh`);
  await p.click('header form button');
  await p.goto(`${base}/territory/623027202`);
  assert.match(p.url(), /\/login/, 'after signing out the page asks to sign in again');
  await p.context().close();
});

test('a wrong password shows a clear message and keeps the user name', async () => {
  const p = await page();
  await p.goto(`${base}/login`);
  await p.fill('input[name=username]', 'center-623027');
  await p.fill('input[name=password]', 'wrong-password');
  await p.click('main form button[type=submit]');
  assert.match(await p.textContent('[role=alert]'), /用户名或密码错误/);
  assert.equal(await p.inputValue('input[name=username]'), 'center-623027');
  await p.context().close();
});
