// Browser journey of the organisation pages (/admin), in Debian's chromium driven by
// playwright-core, against the release binary on a fresh small demo (夏河县), JavaScript off:
// an administrator puts an ungrouped household into a group and pairs a cadre with a monastery,
// and sees both coverage gaps close.
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
const port = Number(process.env.GESANG_ORG_BROWSER_PORT ?? 18184);
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
  dataDir = mkdtempSync(join(tmpdir(), 'gesang-org-browser-'));
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

/** The number of gaps a coverage tile shows. */
async function gaps(p, kind) {
  return Number((await p.textContent(`#cov-${kind} .gaps`)).trim());
}

test('an administrator closes a household gap and a monastery gap from the coverage page', async () => {
  const ctx = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1200, height: 900 } });
  const p = await ctx.newPage();
  await p.goto(`${base}/admin`);
  assert.match(p.url(), /\/login\?next=\/admin/);
  await p.fill('input[name=username]', 'admin');
  await p.fill('input[name=password]', 'gesang-demo');
  await p.click('main form button[type=submit]');
  assert.match(p.url(), /\/admin\/t\/623000$/);

  await p.goto(`${base}/admin/t/623027`);
  assert.match(await p.textContent('h1'), /夏河县/);
  const households = await gaps(p, 'households_in_groups');
  const monasteries = await gaps(p, 'monasteries_paired');
  assert.ok(households > 0 && monasteries > 0, `gaps to close: ${households}, ${monasteries}`);
  await p.screenshot({ path: join(shots, 'org-coverage.png'), fullPage: false });

  // A household in no group: open it from the gap list and put it in a group with a head.
  const fix = p.locator('#gaps-households_in_groups tbody tr', { hasText: '未编入联防组' }).first()
    .locator('a', { hasText: '编组' });
  await fix.click();
  assert.match(p.url(), /\/admin\/households\/\d+$/);
  const options = await p.$$eval('#f-group option', (os) => os.map((o) => ({ value: o.value, text: o.textContent })));
  const group = options.find((o) => o.value && !o.text.includes('无联户长'));
  assert.ok(group, 'the grid has a group with a household head');
  await p.selectOption('#f-group', group.value);
  await p.screenshot({ path: join(shots, 'org-household.png'), fullPage: true });
  await p.click('section.admin-form button[type=submit]');
  assert.match(await p.textContent('.notice'), /已保存/);
  assert.match(await p.textContent('#history'), /group/);

  // A monastery without a paired cadre: pair one from the gap list.
  await p.goto(`${base}/admin/t/623027`);
  assert.equal(await gaps(p, 'households_in_groups'), households - 1);
  await p.locator('#gaps-monasteries_paired a', { hasText: '结对干部' }).first().click();
  assert.match(p.url(), /\/admin\/pairings\/new\?kind=monastery&target=\d+/);
  const members = await p.$$eval('#f-member option', (os) => os.map((o) => ({ value: o.value, text: o.textContent })));
  const cadre = members.find((o) => o.value && o.text.includes('党政干部')) ?? members.find((o) => o.value);
  assert.ok(cadre, 'members of the township are offered');
  await p.selectOption('#f-member', cadre.value);
  await p.screenshot({ path: join(shots, 'org-pairing.png'), fullPage: true });
  await p.click('section.admin-form button[type=submit]');
  assert.match(p.url(), /\/admin\/pairings\/\d+\?done=saved$/);
  assert.match(await p.textContent('.notice'), /已保存/);

  await p.goto(`${base}/admin/t/623027`);
  assert.equal(await gaps(p, 'monasteries_paired'), monasteries - 1);
  assert.equal(await gaps(p, 'households_in_groups'), households - 1);
  await p.screenshot({ path: join(shots, 'org-coverage-after.png'), fullPage: false });
  await ctx.close();
});
