// What the browser tests share: Debian's Chromium driven by playwright-core (never a browser
// that Playwright downloads), `tokengrid up` on a free port with its cache in the build
// directory, and the output directory for screenshots.
//
// Only a missing Chromium skips a test (exit 77, with how to install it), and only on a
// developer's machine: in CI (CI=true) scripts/setup.sh has installed it, so its absence fails.
// Everything else the tests need (playwright-core, the tokengrid binary) fails when missing.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');
export const BIN = process.env.TOKENGRID_BIN ?? path.join(repo, 'build/tokengrid');
export const CACHE = process.env.TOKENGRID_TEST_CACHE ?? path.join(repo, 'build/test-cache');
export const OUT = process.env.TOKENGRID_BROWSER_OUT ?? path.join(repo, 'build/browser');
export const CHROMIUM = process.env.TOKENGRID_CHROMIUM ?? '/usr/bin/chromium';
mkdirSync(OUT, { recursive: true });

function fail(why) {
  console.error(`# FAIL: ${why}`);
  process.exit(1);
}

if (!existsSync(CHROMIUM)) {
  const why = `${CHROMIUM} is missing: Debian's chromium package, which scripts/setup.sh installs ` +
    '(or point TOKENGRID_CHROMIUM at another Chromium)';
  if (process.env.CI === 'true') fail(why);
  console.log(`# SKIP: ${why}`);
  process.exit(77);
}
let playwright;
try {
  playwright = await import('playwright-core');
} catch (e) {
  fail(`playwright-core cannot be loaded (${e.message}); scripts/setup.sh runs npm ci in tests/browser`);
}
if (!existsSync(BIN)) fail(`${BIN} is missing; build tokengrid first`);

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// A fresh browser profile each time; the context and the directory go together.
export async function launchBrowser(options = {}) {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'tokengrid-chromium-'));
  const context = await playwright.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,  // Playwright adds --user-data-dir=<profile>: a fresh one each launch
    viewport: { width: 1440, height: 1000 },
    acceptDownloads: true,
    ...options,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Every console error, uncaught exception, failed request and error status a page meets.
export function watchPage(page) {
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  page.on('requestfailed', (r) => {
    // An EventSource closed by the page's own navigation or close is not a failure.
    if (r.failure()?.errorText === 'net::ERR_ABORTED' && r.url().endsWith('/v1/grid/events')) return;
    problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  return problems;
}

// Starts `tokengrid up ARGS` and resolves with {base, pids: {site: pid}, stop()} once it serves.
export function startUp(args, name) {
  const cache = path.join(CACHE, name);
  const up = spawn(BIN, ['up', '--port', '0', '--cache-dir', cache, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => up.on('exit', (code, signal) => r({ code, signal })));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const pids = {};
    up.stderr.on('data', (d) => {
      err += d;
      for (const m of err.matchAll(/site (\S+)\s+worker pid (\d+)/g)) pids[m[1]] = Number(m[2]);
    });
    up.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/OpenAI base URL\s+(http:\/\/\S+)\/v1/);
      if (!m) return;
      resolve({
        base: m[1],
        pids,
        async stop() {
          up.kill('SIGTERM');
          const { code } = await exited;
          if (code !== 0) throw new Error(`tokengrid up exited with ${code}:\n${err}`);
        },
      });
    });
    up.on('exit', (code) => reject(new Error(`tokengrid up exited (${code}) before serving:\n${err}`)));
    setTimeout(() => reject(new Error(`tokengrid up did not start in 180 s:\n${err}`)), 180000).unref();
  });
}

// Sends `count` chat requests, `concurrency` at a time; resolves with their statuses.
export async function sendLoad(base, { count = 24, concurrency = 6, maxTokens = 24, headers = {} } = {}) {
  const statuses = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const response = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'tiny', max_tokens: maxTokens, messages: [{ role: 'user', content: `Hello number ${i}` }] }),
      });
      await response.arrayBuffer();
      statuses.push(response.status);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

export async function waitFor(what, check, timeoutMs = 15000, stepMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
