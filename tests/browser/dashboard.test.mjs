// The gateway's dashboard in headless Chromium against `tokengrid up`: the page loads with no
// console error or failed request, shows every site, follows the grid live while load is sent,
// switches the policy (refused without the admin key on a grid with keys), and shows a site
// whose worker was killed as unhealthy within seconds. Screenshots of the dashboard under load,
// light and dark, laptop and phone, go to TOKENGRID_BROWSER_OUT.
//
// Run by CTest (label browser) or by hand: node --test tests/browser/dashboard.test.mjs
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CACHE, OUT, launchBrowser, sendLoad, startUp, waitFor, watchPage } from './harness.mjs';

const SITES = ['aws-us-east-1', 'gcp-us-west2', 'azure-southcentralus', 'gcp-europe-west3'];

async function siteRows(page) {
  return page.$$eval('#sites tr[data-site]', (rows) => rows.map((r) => ({ name: r.dataset.site, healthy: r.dataset.healthy })));
}

describe('dashboard on the default grid', () => {
  let grid;
  let browser;
  let page;
  let problems;

  before(async () => {
    grid = await startUp(['--speed', '1440'], 'browser-up');
    browser = await launchBrowser();
    page = await browser.context.newPage();
    problems = watchPage(page);
  });

  after(async () => {
    await browser?.close();
    await grid?.stop();
  });

  it('is served with the right types and caching', async () => {
    const index = await fetch(`${grid.base}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type'), /^text\/html/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const html = await index.text();
    const etag = index.headers.get('etag');
    assert.ok(etag);
    assert.equal((await fetch(`${grid.base}/`, { headers: { 'If-None-Match': etag } })).status, 304);
    const script = html.match(/src="(\/assets\/[^"]+\.js)"/)[1];
    const asset = await fetch(`${grid.base}${script}`, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(asset.status, 200);
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.match(asset.headers.get('content-type'), /^text\/javascript/);
    assert.equal(asset.headers.get('content-encoding'), 'gzip');
    assert.ok(!/https?:\/\/(?!127\.0\.0\.1|localhost)/.test(html), 'index.html names no outside URL');
  });

  it('shows every site and follows the grid live under load', async () => {
    await page.goto(grid.base);
    await waitFor('every site on the page', async () => (await siteRows(page)).length === SITES.length);
    assert.deepEqual((await siteRows(page)).map((r) => r.name), SITES);
    await waitFor('the live stream', async () => (await page.textContent('#connection')) === 'live');
    const clockBefore = await page.textContent('#clock');
    const load = sendLoad(grid.base, { count: 40, concurrency: 8 });
    await waitFor('requests on the page', async () => (await page.$$('#decisions tr[data-request]')).length >= 5, 60000);
    assert.notEqual(await page.textContent('#clock'), clockBefore, 'the replayed clock moves');
    for (const id of ['chart-share', 'chart-energy', 'chart-cost', 'chart-carbon', 'chart-price', 'chart-intensity'])
      assert.equal(await page.getAttribute(`#${id}`, 'data-drawn'), 'true', id);
    const theme = (name) => waitFor(`the ${name} theme`, async () => (await page.getAttribute('html', 'data-theme')) === name, 5000);
    await page.emulateMedia({ colorScheme: 'light' });
    await theme('light');
    await page.screenshot({ path: path.join(OUT, 'dashboard-light.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await theme('dark');  // the page follows the system's preference as it changes
    await page.screenshot({ path: path.join(OUT, 'dashboard-dark.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(OUT, 'dashboard-phone-dark.png'), fullPage: true });
    await page.setViewportSize({ width: 1440, height: 1000 });
    // The toggle overrides the system's preference.
    await page.click('[data-theme-toggle]');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
    await page.emulateMedia({ colorScheme: 'light' });
    const statuses = await load;
    assert.ok(statuses.every((s) => s === 200), `statuses ${statuses}`);
    await waitFor('the served counts', async () => {
      const served = await page.$$eval('#sites tr[data-site] td:last-child', (cells) => cells.map((c) => parseInt(c.textContent, 10)));
      return served.reduce((a, b) => a + b, 0) >= 40;
    });
    const comparison = await page.textContent('#comparison');
    assert.match(comparison, /latency-first/);
    assert.match(comparison, /40 requests/);
  });

  it('switches the policy (no keys on this grid: the switch needs none)', async () => {
    assert.equal(await page.isVisible('#admin-key'), false);
    await page.selectOption('#policy-select', 'cheapest');
    await page.click('#policy-form button[type=submit]');
    await waitFor('the switch', async () => (await page.textContent('#policy-message')) === 'switched to cheapest');
    await waitFor('the new policy on the page', async () => (await page.textContent('#policy-name')) === 'cheapest', 5000);
  });

  it('shows a killed site as unhealthy within seconds', async () => {
    const victim = 'gcp-europe-west3';
    assert.ok(grid.pids[victim], `tokengrid up printed the pid of ${victim}'s worker`);
    process.kill(grid.pids[victim], 'SIGKILL');
    const killedAt = Date.now();
    await waitFor(`${victim} unhealthy`, async () => (await siteRows(page)).find((r) => r.name === victim)?.healthy === 'false', 10000);
    const seconds = (Date.now() - killedAt) / 1000;
    console.log(`# ${victim} shown unhealthy ${seconds.toFixed(1)} s after its worker was killed`);
    assert.equal(await page.getAttribute(`#sites tr[data-site="${victim}"] .badge`, 'data-status'), 'unhealthy');
    await page.screenshot({ path: path.join(OUT, 'dashboard-site-down.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });
});

describe('dashboard on a grid with keys', () => {
  const admin = 'tg-browser-test-admin-key';
  const user = 'tg-browser-test-user-key';
  let grid;
  let browser;
  let page;
  let problems;

  before(async () => {
    const sha = (k) => createHash('sha256').update(k).digest('hex');
    const file = path.join(OUT, 'grid-with-keys.yaml');
    const ports = [await freePort(), await freePort()];
    writeFileSync(file, `listen: {host: 127.0.0.1, port: 0}
replica: keyed
clock: {mode: replay, start: "2024-07-01T00:00Z", speed: 144}
signals: {synthetic: {seed: 7, start: "2024-07-01", days: 2}}
policy: {name: balanced}
default_region: us-east
ledger: {path: "${path.join(CACHE, 'browser-keys-usage.db')}"}
keys:
  - {name: ops, sha256: ${sha(admin)}, role: admin}
  - {name: alice, sha256: ${sha(user)}}
sites:
${ports.map((port, i) => `  - name: site-${i}
    cloud: aws
    region: us-east-${i + 1}
    zone: ${['US-MIDA-PJM', 'DE-LU'][i]}
    accelerators: [{type: cpu, count: 1}]
    cpu_power: {idle_w: 25, busy_core_w: 35, cores: 1}
    latency_ms: {us-east: ${5 + 40 * i}}
    endpoints: [{url: "http://127.0.0.1:${port}", models: [tiny], max_concurrency: 8}]
`).join('')}`);
    grid = await startUp(['--config', file], 'browser-keys');
    browser = await launchBrowser();
    page = await browser.context.newPage();
    problems = watchPage(page);
    await page.goto(grid.base);
    await waitFor('both sites', async () => (await siteRows(page)).length === 2);
  });

  after(async () => {
    await browser?.close();
    await grid?.stop();
  });

  it('refuses the switch without the admin key, and with a user key', async () => {
    assert.equal(await page.isVisible('#admin-key'), true);
    await page.selectOption('#policy-select', 'greenest');
    await page.click('#policy-form button[type=submit]');
    await waitFor('the refusal', async () => (await page.getAttribute('#policy-message', 'data-kind')) === 'error');
    assert.match(await page.textContent('#policy-message'), /key/i);
    await page.fill('#admin-key', user);
    await page.click('#policy-form button[type=submit]');
    await waitFor('the refusal of a user key', async () => /admin key/.test(await page.textContent('#policy-message')));
    assert.equal(await page.textContent('#policy-name'), 'balanced');
    // The page's two refused POSTs are the only error statuses it saw.
    assert.deepEqual(problems.filter((p) => !p.includes('/v1/grid/policy')).filter((p) => !/status of 40[13]/.test(p)), []);
    problems.length = 0;
  });

  it('switches with the admin key', async () => {
    await page.fill('#admin-key', admin);
    await page.click('#policy-form button[type=submit]');
    await waitFor('the switch', async () => (await page.textContent('#policy-message')) === 'switched to greenest');
    await waitFor('the new policy on the page', async () => (await page.textContent('#policy-name')) === 'greenest', 5000);
    assert.deepEqual(problems, []);
  });
});

async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
