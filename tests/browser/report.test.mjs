// The simulator's report in headless Chromium: `tokengrid sim --out DIR` on a small scenario
// (a generated trace, synthetic signals, a site under a power cap), report.html opened from
// the file: every chart drew (its canvas has pixels), no console error and no request beyond
// the file itself, and each chart exports as PNG and as SVG.
//
// Run by CTest (label browser) or by hand: node --test tests/browser/report.test.mjs
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { BIN, OUT, launchBrowser, watchPage } from './harness.mjs';

const DIR = path.join(OUT, 'report');

function writeScenario() {
  mkdirSync(DIR, { recursive: true });
  let t = 0;
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const lines = ['TIMESTAMP,ContextTokens,GeneratedTokens'];
  for (let i = 0; i < 3000; ++i) {
    t += -Math.log(1 - random()) * (3600 / 3000);
    const s = Math.floor(t);
    const stamp = `2023-11-16 ${String(10 + Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}.0000`;
    lines.push(`${stamp},${100 + Math.floor(random() * 2000)},${10 + Math.floor(random() * 300)}`);
  }
  writeFileSync(path.join(DIR, 'trace.csv'), `${lines.join('\n')}\n`);
  const site = (name, cloud, region, zone, extra, latency) => `  - name: ${name}
    cloud: ${cloud}
    region: ${region}
    zone: ${zone}
    accelerators: [{type: H100, count: 4}]
    models: [{name: llama-3.1-8b, accelerator: H100, tensor_parallel: 1, replicas: 2}]
    latency_ms: ${latency}
${extra}`;
  writeFileSync(path.join(DIR, 'scenario.yaml'), `name: browser-report
start: "2024-07-01"
horizon_hours: 6
seed: 7
mode: request
slo: {ttft_s: 1.0, tpot_s: 0.1}
signals: {synthetic: true, seed: 3}
workload:
  model: llama-3.1-8b
  trace: trace.csv
  rate_rps: 8
  regions:
    - {name: east, share: 2, utc_offset_h: -5, shape: flat}
    - {name: europe, share: 1, utc_offset_h: 1, shape: flat}
sites:
${site('virginia', 'aws', 'us-east-1', 'US-MIDA-PJM', '', '{east: 5, europe: 40}')}${site('texas', 'azure', 'southcentralus', 'US-TEX-ERCO', '    power_cap_kw: 3\n', '{east: 20, europe: 55}')}${site('frankfurt', 'gcp', 'europe-west3', 'DE-LU', '', '{east: 45, europe: 8}')}`);
}

describe('simulator report', () => {
  let browser;
  let page;
  let problems;
  const requests = [];

  before(async () => {
    writeScenario();
    const sim = spawnSync(BIN, ['sim', '--scenario', path.join(DIR, 'scenario.yaml'), '--compare', 'latency-first,cheapest,balanced',
      '--out', DIR], { encoding: 'utf8' });
    assert.equal(sim.status, 0, `tokengrid sim failed:\n${sim.stdout}\n${sim.stderr}`);
    assert.equal(sim.stderr.includes('\r'), false, 'no progress bar when stderr is not a terminal');
    browser = await launchBrowser();
    page = await browser.context.newPage();
    problems = watchPage(page);
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(path.join(DIR, 'report.html')).href);
  });

  after(async () => {
    await browser?.close();
  });

  it('draws every chart from the one file', async () => {
    const charts = await page.$$eval('[data-chart]', (els) => els.map((el) => {
      const canvas = el.querySelector('canvas');
      if (!canvas) return { name: el.dataset.chart, pixels: 0 };
      const copy = document.createElement('canvas');
      copy.width = canvas.width;
      copy.height = canvas.height;
      const ctx = copy.getContext('2d');
      ctx.drawImage(canvas, 0, 0);
      const { data } = ctx.getImageData(0, 0, copy.width, copy.height);
      let pixels = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) ++pixels;
      return { name: el.dataset.chart, drawn: el.dataset.drawn, pixels, width: canvas.width };
    }));
    // 4 comparison bars, 2 fleet lines, 2 signals, 4 per policy.
    assert.equal(charts.length, 4 + 2 + 2 + 4 * 3, JSON.stringify(charts.map((c) => c.name)));
    for (const c of charts) {
      assert.equal(c.drawn, 'true', c.name);
      assert.ok(c.pixels > 2000, `${c.name}: ${c.pixels} pixels drawn`);
    }
    assert.match(await page.textContent('#policies'), /vs latency-first/);
    assert.ok(requests.every((u) => u.startsWith('file:')), `only the file itself is loaded: ${requests}`);
    await page.screenshot({ path: path.join(OUT, 'report-light.png'), fullPage: false });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: path.join(OUT, 'report-dark.png'), fullPage: false });
    assert.deepEqual(problems, []);
  });

  it('exports a chart as PNG and as SVG', async () => {
    const first = page.locator('.chart-panel').first();
    const [png] = await Promise.all([page.waitForEvent('download'), first.locator('[data-export=png]').click()]);
    const pngPath = path.join(OUT, `report-export-${png.suggestedFilename()}`);
    await png.saveAs(pngPath);
    const bytes = readFileSync(pngPath);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.ok(bytes.length > 5000, `PNG of ${bytes.length} bytes`);
    const [svg] = await Promise.all([page.waitForEvent('download'), first.locator('[data-export=svg]').click()]);
    assert.match(svg.suggestedFilename(), /\.svg$/);
    const svgPath = path.join(OUT, `report-export-${svg.suggestedFilename()}`);
    await svg.saveAs(svgPath);
    const text = readFileSync(svgPath, 'utf8');
    assert.match(text, /^<svg[\s\S]*<\/svg>\s*$/);
    assert.match(text, /<path|<rect/);
    assert.deepEqual(problems, []);
  });
});
