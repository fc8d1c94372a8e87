// End-to-end tests of the live grid driven by the official OpenAI client: `tokengrid up` (four
// workers in four grid zones behind the gateway) on a free loopback port.
//
// Run by CTest (label e2e) with TOKENGRID_BIN and TOKENGRID_TEST_CACHE set, or by hand:
//   TOKENGRID_BIN=build/tokengrid node --test tests/node/gateway.test.mjs
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const BIN = process.env.TOKENGRID_BIN ?? path.join(repo, 'build/tokengrid');
// A cache of its own: the batch store lives there, and no other suite's `up` may resume its batches.
const CACHE = mkdtempSync(path.join(os.tmpdir(), 'tokengrid-up-'));

let OpenAI;
let toFile;
try {
  ({ default: OpenAI, toFile } = await import('openai'));
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
    up = spawn(BIN, ['up', '--port', '0', '--cache-dir', CACHE, '--speed', '60', '--policy', 'round-robin',
      '--batch-schedule', 'at_once'], {
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
  rmSync(CACHE, { recursive: true, force: true });
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

  it('answers embeddings through the openai client, equal to the worker\'s own answer', async () => {
    const inputs = ['The grid at noon', 'Carbon at midnight', 'x'];
    const { data: r, response } = await client.embeddings.create({ model: 'tiny', input: inputs }).withResponse();
    assert.equal(r.object, 'list');
    assert.equal(r.data.length, inputs.length);
    for (const [i, item] of r.data.entries()) {
      assert.equal(item.index, i);
      const norm = Math.hypot(...item.embedding);
      assert.ok(Math.abs(norm - 1) < 1e-5, `vector ${i} has length ${norm}`);
    }
    assert.notDeepStrictEqual(r.data[0].embedding, r.data[1].embedding);
    assert.ok(r.usage.prompt_tokens >= inputs.length);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens);
    assertFootprint(r.usage);
    const site = response.headers.get('x-tokengrid-site');
    assert.equal(site, r.usage.site);
    assert.match(response.headers.get('x-request-id'), /^embd-/);
    // The same inputs sent straight to the worker that answered.
    const grid = await raw('GET', '/v1/grid');
    const worker = grid.json.sites.find((s) => s.name === site).endpoints[0].url.replace(/\/v1$/, '');
    const res = await fetch(`${worker}/v1/embeddings`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', input: inputs, encoding_format: 'float' }),
    });
    assert.equal(res.status, 200);
    const direct = await res.json();
    for (const [i, item] of r.data.entries()) assert.deepStrictEqual(item.embedding, direct.data[i].embedding, `input ${i}`);
    assert.equal(r.usage.prompt_tokens, direct.usage.prompt_tokens);
    // One input alone gets the vector it got in the batch, floats as the client asked.
    const one = await client.embeddings.create({ model: 'tiny', input: inputs[1], encoding_format: 'float' });
    assert.deepStrictEqual(one.data[0].embedding, direct.data[1].embedding);
    await assert.rejects(client.embeddings.create({ model: 'tiny', input: '' }), (e) => e.status === 400 && e.param === 'input');
    await assert.rejects(client.embeddings.create({ model: 'gpt-9', input: 'x' }), (e) => e.status === 404);
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

// Polls a batch until its status is one of `statuses`.
async function waitForBatch(id, statuses, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  let b;
  while (Date.now() < deadline) {
    b = await client.batches.retrieve(id);
    if (statuses.includes(b.status)) return b;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`batch ${id} still ${JSON.stringify(b)}`);
}

async function uploadBatchFile(lines, name = 'requests.jsonl') {
  const jsonl = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  const file = await client.files.create({ file: await toFile(Buffer.from(jsonl), name), purpose: 'batch' });
  assert.equal(file.object, 'file');
  assert.equal(file.purpose, 'batch');
  assert.equal(file.bytes, Buffer.byteLength(jsonl));
  return file;
}

async function linesOf(fileId) {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

function chatLine(i, maxTokens = 6) {
  return {
    custom_id: `q-${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'tiny', messages: [{ role: 'user', content: `Question number ${i}` }], max_tokens: maxTokens, temperature: 0 },
  };
}

describe('the batch API through the openai client', () => {
  it('runs a batch into an output file equal, by custom_id, to the same requests sent one by one', async () => {
    const requests = [0, 1, 2, 3, 4, 5].map((i) => chatLine(i));
    const file = await uploadBatchFile(requests);
    const batch = await client.batches.create({
      input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { suite: 'node' },
    });
    assert.equal(batch.object, 'batch');
    assert.equal(batch.status, 'validating');
    const done = await waitForBatch(batch.id, ['completed', 'failed', 'expired', 'cancelled']);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.deepEqual(done.request_counts, { total: 6, completed: 6, failed: 0 });
    assert.deepEqual(done.metadata, { suite: 'node' });
    assert.equal(done.error_file_id, null);
    for (const at of ['created_at', 'in_progress_at', 'finalizing_at', 'completed_at']) assert.equal(typeof done[at], 'number', at);
    const lines = await linesOf(done.output_file_id);
    assert.deepEqual(lines.map((l) => l.custom_id).sort(), requests.map((r) => r.custom_id).sort());
    for (const r of requests) {
      const line = lines.find((l) => l.custom_id === r.custom_id);
      assert.equal(line.response.status_code, 200);
      assert.equal(line.error, null);
      const interactive = await client.chat.completions.create(r.body);
      assert.equal(line.response.body.choices[0].message.content, interactive.choices[0].message.content, r.custom_id);
      assert.equal(line.response.body.usage.completion_tokens, interactive.usage.completion_tokens);
      assertFootprint(line.response.body.usage);
    }
    const listed = await client.batches.list({ limit: 100 });
    assert.ok(listed.data.some((b) => b.id === batch.id));
    const grid = await raw('GET', '/v1/grid');
    assert.equal(grid.json.batches.schedule, 'at_once');
    await assert.rejects(client.batches.cancel(batch.id), (e) => e.status === 409);
  });

  it('fails an invalid input file with an error per line', async () => {
    const file = await uploadBatchFile([chatLine(0), '{"custom_id": "broken"', chatLine(0)]);
    const batch = await client.batches.create({
      input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h',
    });
    const done = await waitForBatch(batch.id, ['failed', 'completed']);
    assert.equal(done.status, 'failed');
    assert.deepEqual(done.errors.data.map((e) => e.line), [2, 3]);
    assert.equal(done.errors.data[1].code, 'duplicate_custom_id');
  });

  it('cancels a batch, keeping what finished and marking the rest', async () => {
    const requests = [...Array(200).keys()].map((i) => chatLine(i, 64));
    const file = await uploadBatchFile(requests);
    const batch = await client.batches.create({
      input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h',
    });
    await waitForBatch(batch.id, ['in_progress']);
    const cancelling = await client.batches.cancel(batch.id);
    assert.ok(['cancelling', 'cancelled'].includes(cancelling.status), cancelling.status);
    const done = await waitForBatch(batch.id, ['cancelled']);
    assert.equal(typeof done.cancelled_at, 'number');
    const ok = await linesOf(done.output_file_id);
    const errors = await linesOf(done.error_file_id);
    assert.equal(ok.length + errors.length, 200);
    assert.ok(errors.length > 0);
    assert.deepEqual(done.request_counts, { total: 200, completed: ok.length, failed: errors.length });
    for (const e of errors) assert.equal(e.error.code, 'batch_cancelled');
    assert.equal((await client.batches.cancel(batch.id)).status, 'cancelled');
  });

  it('refuses what OpenAI refuses, naming the field', async () => {
    await assert.rejects(
      client.files.create({ file: await toFile(Buffer.from('{}\n'), 'requests.txt'), purpose: 'batch' }),
      (e) => e.status === 400 && e.param === 'file');
    await assert.rejects(
      client.batches.create({ input_file_id: 'file-none', endpoint: '/v1/chat/completions', completion_window: '24h' }),
      (e) => e.status === 404);
    await assert.rejects(client.batches.retrieve('batch_none'), (e) => e.status === 404);
  });
});
