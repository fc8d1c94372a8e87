// End-to-end tests of the live grid driven by the official OpenAI client: `tokengrid up` (four
// workers in four grid zones behind the gateway) on a free loopback port.
//
// Run by CTest (label e2e) with TOKENGRID_BIN and TOKENGRID_TEST_CACHE set, or by hand:
//   TOKENGRID_BIN=build/tokengrid node --test tests/node/gateway.test.mjs
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const BIN = process.env.TOKENGRID_BIN ?? path.join(repo, 'build/tokengrid');
const CACHE = process.env.TOKENGRID_TEST_CACHE ?? mkdtempSync(path.join(os.tmpdir(), 'tokengrid-up-'));

let OpenAI;
try {
  ({ default: OpenAI } = await import('openai'));
} catch {
  console.log('# SKIP: the openai package is missing; run scripts/setup.sh (npm install in tests/node)');
  process.exit(77);
}
if (!existsSync(BIN)) {
  console.log(`# SKIP: need ${BIN}`);
  process.exit(77);
}

const SITES = ['aws-us-east-1', 'gcp-us-west2', 'azure-southcentralus', 'gcp-europe-west3'];
const ENERGY_FIELDS = ['site', 'zone', 'it_wh', 'facility_wh', 'pue', 'usd', 'g_co2e', 'price_usd_per_mwh',
  'carbon_g_per_kwh'];

let up;
let upExit;
let base;
let client;

// Starts `tokengrid up` and resolves with the OpenAI base URL it prints.
function startGrid() {
  return new Promise((resolve, reject) => {
    up = spawn(BIN, ['up', '--port', '0', '--cache-dir', CACHE, '--speed', '60', '--policy', 'round-robin'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    upExit = new Promise((r) => up.on('exit', (code, signal) => r({ code, signal })));
    let out = '';
    let err = '';
    up.stderr.on('data', (d) => { err += d; });
    up.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/OpenAI base URL\s+(http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    up.on('exit', (code) => reject(new Error(`tokengrid up exited (${code}) before serving:\n${err}`)));
    setTimeout(() => reject(new Error(`tokengrid up did not start in 120 s:\n${err}`)), 120000).unref();
  });
}

async function raw(method, route, body) {
  const res = await fetch(base.replace(/\/v1$/, '') + route, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body,
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, json, text };
}

function assertFootprint(usage) {
  for (const f of ENERGY_FIELDS) assert.ok(f in usage, `usage.${f} in ${JSON.stringify(usage)}`);
  assert.ok(SITES.includes(usage.site), usage.site);
  assert.ok(usage.it_wh > 0);
  assert.ok(Math.abs(usage.facility_wh - usage.it_wh * usage.pue) <= 1e-12 + 1e-9 * usage.facility_wh);
  assert.ok(Math.abs(usage.g_co2e - usage.facility_wh / 1000 * usage.carbon_g_per_kwh) <= 1e-9 * (usage.g_co2e + 1e-9));
  assert.ok(Math.abs(usage.usd - usage.facility_wh / 1e6 * usage.price_usd_per_mwh) <= 1e-12 + 1e-9 * Math.abs(usage.usd));
}

before(async () => {
  base = await startGrid();
  client = new OpenAI({ baseURL: base, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  if (up && up.exitCode === null) {
    up.kill('SIGTERM');
    const { code } = await upExit;
    assert.equal(code, 0, 'tokengrid up stops cleanly on SIGTERM');
  }
});

describe('the gateway over four workers', () => {
  it('lists the model every site serves', async () => {
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['tiny']);
  });

  it('answers a chat completion with the energy, cost and carbon in usage', async () => {
    const r = await client.chat.completions.create({
      model: 'tiny', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 8, temperature: 0,
    });
    assert.equal(r.object, 'chat.completion');
    assert.ok(r.id.startsWith('chatcmpl-'));
    assert.equal(r.choices.length, 1);
    assert.equal(typeof r.choices[0].message.content, 'string');
    assert.equal(r.usage.completion_tokens, 8);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    assertFootprint(r.usage);
  });

  it('answers text completions, n > 1 included', async () => {
    const r = await client.completions.create({ model: 'tiny', prompt: 'The grid', max_tokens: 5, n: 3, seed: 7 });
    assert.equal(r.object, 'text_completion');
    assert.deepEqual(r.choices.map((c) => c.index).sort(), [0, 1, 2]);
    assert.equal(r.usage.completion_tokens, 15);
    assertFootprint(r.usage);
  });

  it('streams chat chunk by chunk with one id, and the usage chunk when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'tiny', messages: [{ role: 'user', content: 'Stream please' }], max_tokens: 6, stream: true,
      stream_options: { include_usage: true },
    });
    const ids = new Set();
    let text = '';
    let usage;
    let chunks = 0;
    for await (const chunk of stream) {
      ids.add(chunk.id);
      chunks += 1;
      if (chunk.choices.length === 0) usage = chunk.usage;
      else text += chunk.choices[0].delta.content ?? '';
    }
    assert.equal(ids.size, 1);
    assert.ok(chunks >= 7);
    assert.equal(typeof text, 'string');
    assert.ok(usage, 'a usage chunk');
    assert.equal(usage.completion_tokens, 6);
    assertFootprint(usage);
  });

  it('streams without a usage chunk when not asked', async () => {
    const stream = await client.completions.create({ model: 'tiny', prompt: 'x', max_tokens: 3, stream: true });
    for await (const chunk of stream) {
      assert.ok(chunk.choices.length > 0, 'no usage chunk');
      assert.equal(chunk.usage ?? null, null);
    }
  });

  it('spreads requests over every site not draining and says where each ran and why', async () => {
    const seen = new Set();
    const grid = await raw('GET', '/v1/grid');
    const open = grid.json.sites.filter((s) => !s.draining).map((s) => s.name);
    for (let i = 0; i < 8; i += 1) {
      const r = await raw('POST', '/v1/chat/completions',
        JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: `hi ${i}` }], max_tokens: 2 }));
      assert.equal(r.status, 200, r.text);
      seen.add(r.headers.get('x-tokengrid-site'));
      assert.match(r.headers.get('x-tokengrid-reason'), /round-robin/);
    }
    for (const name of open) assert.ok(seen.has(name), `${name} got no request`);
    for (const name of seen) assert.ok(SITES.includes(name));
  });

  it('refuses bad requests in OpenAI\'s error shape', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] }),
      (e) => e.status === 404 && e.code === 'model_not_found');
    await assert.rejects(
      client.chat.completions.create({ model: 'tiny', messages: [], max_tokens: 2 }),
      (e) => e.status === 400 && e.param === 'messages');
    await assert.rejects(
      client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], temperature: 7 }),
      (e) => e.status === 400 && e.param === 'temperature');
    const r = await raw('POST', '/v1/chat/completions', '{"model": "tiny", "messages": [');
    assert.equal(r.status, 400);
    assert.ok(r.json.error.message.length > 0);
    assert.ok('param' in r.json.error && 'code' in r.json.error && 'type' in r.json.error);
  });

  it('shows every site, the policy and the decisions at /v1/grid', async () => {
    const r = await raw('GET', '/v1/grid');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.sites.map((s) => s.name), SITES);
    for (const s of r.json.sites) {
      assert.equal(s.healthy, true, `${s.name}: ${s.health_reason}`);
      assert.ok(s.pue >= 1);
      assert.equal(typeof s.carbon_g_per_kwh, 'number');
    }
    assert.equal(r.json.policy.name, 'round-robin');
    assert.ok(r.json.decisions.length > 0);
    assert.ok(r.json.clock.speed === 60);
  });
});
