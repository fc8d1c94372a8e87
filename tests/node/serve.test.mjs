// End-to-end tests of `tokengrid serve` driven by the official OpenAI client.
//
// Starts the real server with the real stories260k model on a free loopback port, waits for
// /ready, runs every case, then sends SIGTERM and expects a clean exit. Run by CTest (label
// e2e) with TOKENGRID_BIN and TOKENGRID_MODEL set, or by hand:
//   TOKENGRID_BIN=build/tokengrid TOKENGRID_MODEL=../shared/data/models/stories260k-f32.gguf \
//     node --test tests/node/
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort, sleep } from './ports.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const BIN = process.env.TOKENGRID_BIN ?? path.join(repo, 'build/tokengrid');
const MODEL =
  process.env.TOKENGRID_MODEL ?? path.join(repo, '../shared/data/models/stories260k-f32.gguf');
const KEY = 'sk-tokengrid-e2e';
const BODY_LIMIT = 1 << 20;

let OpenAI;
try {
  ({ default: OpenAI } = await import('openai'));
} catch {
  console.log('# SKIP: the openai package is missing; run scripts/setup.sh (npm install in tests/node)');
  process.exit(77);
}
if (!existsSync(BIN) || !existsSync(MODEL)) {
  console.log(`# SKIP: need ${BIN} and ${MODEL}`);
  process.exit(77);
}


let server;
let serverExit;
let base;
let client;
let modelName;

async function raw(method, route, { body, headers = {}, key = KEY } = {}) {
  const h = { ...headers };
  if (key) h.Authorization = `Bearer ${key}`;
  if (body !== undefined && !h['Content-Type']) h['Content-Type'] = 'application/json';
  const res = await fetch(base + route, { method, headers: h, body });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

function assertOpenAiError(res, status, param) {
  assert.equal(res.status, status, res.text);
  assert.ok(res.json && res.json.error, `an error object: ${res.text}`);
  const e = res.json.error;
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  assert.equal(typeof e.type, 'string');
  assert.ok('param' in e && 'code' in e, 'param and code are present');
  if (param !== undefined) assert.equal(e.param, param);
}

async function metric(name) {
  const res = await raw('GET', '/metrics', { key: null });
  const line = res.text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

// The token texts of a greedy completion, streamed with logprobs (one entry per token).
async function streamedTokens(prompt, maxTokens) {
  const stream = await client.completions.create({
    model: modelName,
    prompt,
    max_tokens: maxTokens,
    temperature: 0,
    logprobs: 0,
    stream: true,
  });
  const tokens = [];
  let text = '';
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      text += c.text;
      if (c.logprobs) tokens.push(...c.logprobs.tokens);
    }
  }
  return { tokens, text };
}

before(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(
    BIN,
    ['serve', '-m', MODEL, '--host', '127.0.0.1', '--port', String(port), '--api-key', KEY,
      '--body-limit', String(BODY_LIMIT), '--max-batch', '32'],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  serverExit = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 60000;
  let ready = false;
  while (Date.now() < deadline) {
    const res = await fetch(base + '/ready').catch(() => null);  // null: not listening yet
    if (res && res.status === 200) {
      ready = true;
      break;
    }
    if (res) assert.equal(res.status, 503, 'not ready yet is 503');
    await sleep(50);
  }
  assert.ok(ready, 'the server became ready');
  client = new OpenAI({ baseURL: base + '/v1', apiKey: KEY, maxRetries: 0, timeout: 60000 });
  const models = await client.models.list();
  modelName = models.data[0].id;
});

after(async () => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
});

describe('health and models', () => {
  it('answers /health, /ready and /v1/models', async () => {
    assert.equal((await raw('GET', '/health', { key: null })).status, 200);
    assert.equal((await raw('GET', '/ready', { key: null })).status, 200);
    const models = await client.models.list();
    assert.equal(models.data.length, 1);
    assert.equal(models.data[0].object, 'model');
    assert.match(models.data[0].id, /stories260k/);
  });
});

describe('completions', () => {
  it('returns OpenAI\'s shape with usage', async () => {
    const r = await client.completions.create({
      model: modelName, prompt: 'Once upon a time', max_tokens: 20, temperature: 0,
    });
    assert.match(r.id, /^cmpl-/);
    assert.equal(r.object, 'text_completion');
    assert.equal(typeof r.created, 'number');
    assert.equal(r.model, modelName);
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].index, 0);
    assert.ok(r.choices[0].text.length > 0);
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
    assert.ok(r.usage.prompt_tokens > 1);
    assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 20);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  it('streams the same greedy text it returns whole', async () => {
    const whole = await client.completions.create({
      model: modelName, prompt: 'The little dog', max_tokens: 30, temperature: 0,
    });
    const stream = await client.completions.create({
      model: modelName, prompt: 'The little dog', max_tokens: 30, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish = null;
    let usage = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'text_completion');
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        text += c.text;
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    assert.equal(text, whole.choices[0].text);
    assert.equal(finish, whole.choices[0].finish_reason);
    assert.deepEqual(usage.completion_tokens, whole.usage.completion_tokens);
  });

  it('takes token ids and lists of prompts', async () => {
    const ids = await client.completions.create({
      model: modelName, prompt: [1, 400, 401], max_tokens: 5, temperature: 0,
    });
    assert.equal(ids.usage.prompt_tokens, 3);
    const two = await client.completions.create({
      model: modelName, prompt: ['Tom had a', 'Lily saw a'], max_tokens: 5, temperature: 0,
    });
    assert.deepEqual(two.choices.map((c) => c.index), [0, 1]);
  });

  it('stops at a stop sequence and leaves it out', async () => {
    const free = await client.completions.create({
      model: modelName, prompt: 'Once upon a time', max_tokens: 60, temperature: 0,
    });
    const text = free.choices[0].text;
    assert.ok(text.length >= 12, `enough text to pick a stop sequence: ${text}`);
    const middle = Math.floor(text.length / 2);
    const stopWord = text.slice(middle, middle + 3);
    const cut = text.indexOf(stopWord);
    const stopped = await client.completions.create({
      model: modelName, prompt: 'Once upon a time', max_tokens: 60, temperature: 0,
      stop: [stopWord, 'zzzz'],
    });
    assert.equal(stopped.choices[0].finish_reason, 'stop');
    assert.equal(stopped.choices[0].text, text.slice(0, cut));
  });

  it('returns logprobs', async () => {
    const r = await client.completions.create({
      model: modelName, prompt: 'Once', max_tokens: 6, temperature: 0, logprobs: 3,
    });
    const lp = r.choices[0].logprobs;
    assert.equal(lp.tokens.length, r.usage.completion_tokens);
    assert.equal(lp.token_logprobs.length, lp.tokens.length);
    assert.equal(lp.text_offset.length, lp.tokens.length);
    for (let i = 0; i < lp.tokens.length; i++) {
      assert.ok(lp.token_logprobs[i] <= 0);
      const alternatives = Object.entries(lp.top_logprobs[i]);
      assert.ok(alternatives.length >= 1 && alternatives.length <= 3);
      // Greedy: the chosen token is the most likely one.
      const best = Math.max(...alternatives.map(([, v]) => v));
      assert.ok(Math.abs(best - lp.token_logprobs[i]) < 1e-4);
    }
    assert.equal(lp.tokens.join(''), r.choices[0].text);
  });

  it('is reproducible with a seed', async () => {
    const ask = (seed) => client.completions.create({
      model: modelName, prompt: 'Once upon a time', max_tokens: 40, temperature: 1, seed,
    });
    const a = await ask(1234);
    const b = await ask(1234);
    assert.equal(a.choices[0].text, b.choices[0].text);
    const texts = new Set();
    for (const seed of [1, 2, 3, 4]) texts.add((await ask(seed)).choices[0].text);
    assert.ok(texts.size > 1, 'different seeds give different samples');
  });

  it('returns n choices, reproducible with a seed', async () => {
    const ask = () => client.completions.create({
      model: modelName, prompt: 'One day', max_tokens: 20, temperature: 1, n: 3, seed: 7,
    });
    const a = await ask();
    const b = await ask();
    assert.equal(a.choices.length, 3);
    assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
    assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
    assert.ok(new Set(a.choices.map((c) => c.text)).size > 1, 'choices are sampled apart');
  });
});

describe('chat completions', () => {
  it('returns OpenAI\'s shape', async () => {
    const r = await client.chat.completions.create({
      model: modelName,
      messages: [
        { role: 'system', content: 'You tell stories.' },
        { role: 'user', content: [{ type: 'text', text: 'Tell me about a cat.' }] },
      ],
      max_tokens: 16,
      temperature: 0,
    });
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(typeof r.choices[0].message.content, 'string');
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  it('streams a role delta first, then content, a finish, usage and [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: modelName,
      messages: [{ role: 'user', content: 'Hello' }],
      max_completion_tokens: 12,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal(chunks[0].object, 'chat.completion.chunk');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage.completion_tokens > 0);
    const finishes = chunks.flatMap((c) => c.choices).filter((c) => c.finish_reason);
    assert.equal(finishes.length, 1);
    const ids = new Set(chunks.map((c) => c.id));
    assert.equal(ids.size, 1);
    const whole = await client.chat.completions.create({
      model: modelName,
      messages: [{ role: 'user', content: 'Hello' }],
      max_completion_tokens: 12,
      temperature: 0,
    });
    const text = chunks.flatMap((c) => c.choices).map((c) => c.delta.content ?? '').join('');
    assert.equal(text, whole.choices[0].message.content);
  });

  it('returns chat logprobs', async () => {
    const r = await client.chat.completions.create({
      model: modelName,
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 5,
      temperature: 0,
      logprobs: true,
      top_logprobs: 2,
    });
    const content = r.choices[0].logprobs.content;
    assert.equal(content.length, r.usage.completion_tokens);
    for (const t of content) {
      assert.equal(typeof t.token, 'string');
      assert.ok(t.logprob <= 0);
      assert.ok(Array.isArray(t.bytes));
      assert.ok(t.top_logprobs.length <= 2);
    }
  });

  it('returns n streamed choices', async () => {
    const stream = await client.chat.completions.create({
      model: modelName,
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 8,
      n: 2,
      seed: 3,
      stream: true,
    });
    const indexes = new Set();
    const finished = new Set();
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        indexes.add(c.index);
        if (c.finish_reason) finished.add(c.index);
      }
    }
    assert.deepEqual([...indexes].sort(), [0, 1]);
    assert.deepEqual([...finished].sort(), [0, 1]);
  });
});

describe('errors', () => {
  const chat = (body) => raw('POST', '/v1/chat/completions', { body: JSON.stringify(body) });
  const completion = (body) => raw('POST', '/v1/completions', { body: JSON.stringify(body) });

  it('rejects malformed JSON', async () => {
    assertOpenAiError(await raw('POST', '/v1/chat/completions', { body: '{"messages": [' }), 400);
    assertOpenAiError(await raw('POST', '/v1/completions', { body: 'null' }), 400);
  });

  it('rejects wrong types', async () => {
    const m = [{ role: 'user', content: 'x' }];
    assertOpenAiError(await chat({ messages: m, temperature: 'hot' }), 400, 'temperature');
    assertOpenAiError(await chat({ messages: m, max_tokens: '5' }), 400, 'max_tokens');
    assertOpenAiError(await chat({ messages: m, stop: 5 }), 400, 'stop');
    assertOpenAiError(await chat({ messages: 'hi' }), 400, 'messages');
    assertOpenAiError(await completion({ prompt: { text: 'x' } }), 400, 'prompt');
    // Through the client too: a typed 400.
    await assert.rejects(
      client.chat.completions.create({ model: modelName, messages: m, top_p: 7 }),
      (e) => e.status === 400 && e.error?.param === 'top_p');
  });

  it('rejects empty messages and unknown roles', async () => {
    assertOpenAiError(await chat({ messages: [] }), 400, 'messages');
    assertOpenAiError(await chat({ messages: [{ role: 'robot', content: 'x' }] }), 400);
  });

  it('rejects a prompt longer than the context', async () => {
    const res = await completion({ prompt: 'Once upon a time there was a cat. '.repeat(200) });
    assertOpenAiError(res, 400, 'prompt');
    assert.equal(res.json.error.code, 'context_length_exceeded');
    assert.match(res.json.error.message, /maximum context length is 512 tokens/);
  });

  it('rejects n and max_tokens out of range', async () => {
    const m = [{ role: 'user', content: 'x' }];
    assertOpenAiError(await chat({ messages: m, n: 0 }), 400, 'n');
    assertOpenAiError(await chat({ messages: m, n: 129 }), 400, 'n');
    assertOpenAiError(await chat({ messages: m, max_tokens: 0 }), 400, 'max_tokens');
    assertOpenAiError(await chat({ messages: m, max_tokens: 100000 }), 400, 'max_tokens');
    assertOpenAiError(await completion({ prompt: 'x', max_tokens: -3 }), 400, 'max_tokens');
  });

  it('rejects a body over the limit with 413', async () => {
    const res = await completion({ prompt: 'a'.repeat(BODY_LIMIT + 10) });
    assertOpenAiError(res, 413);
  });

  it('answers 404 and 405', async () => {
    assertOpenAiError(await raw('GET', '/v1/nope'), 404);
    assertOpenAiError(await raw('POST', '/v2/chat/completions', { body: '{}' }), 404);
    const wrong = await raw('GET', '/v1/chat/completions');
    assertOpenAiError(wrong, 405);
    assert.equal(wrong.headers.get('allow'), 'POST');
    assertOpenAiError(await raw('DELETE', '/v1/models'), 405);
  });

  it('answers 401 without the right key', async () => {
    assertOpenAiError(await raw('GET', '/v1/models', { key: null }), 401);
    assertOpenAiError(await raw('POST', '/v1/completions', { key: 'sk-wrong', body: '{}' }), 401);
    const stranger = new OpenAI({ baseURL: base + '/v1', apiKey: 'sk-wrong', maxRetries: 0 });
    await assert.rejects(stranger.models.list(), (e) => e.status === 401);
  });

  it('keeps serving after all of that', async () => {
    const r = await client.completions.create({ model: modelName, prompt: 'Hi', max_tokens: 3 });
    assert.equal(r.choices.length, 1);
  });
});

describe('lifecycle', () => {
  it('cancels the sequence of a client that disconnects mid-stream', async () => {
    const generatedBefore = await metric('tokengrid_generation_tokens_total');
    const controller = new AbortController();
    // EOS is forbidden, so only a cancellation ends this request before 400 tokens.
    const stream = await client.completions.create(
      { model: modelName, prompt: 'Once upon a time', max_tokens: 400, temperature: 1,
        logit_bias: { 2: -100 }, stream: true },
      { signal: controller.signal });
    let chunks = 0;
    try {
      for await (const chunk of stream) {
        if (chunk.choices.length && ++chunks === 3) {
          controller.abort();
          break;
        }
      }
    } catch (e) {
      assert.equal(e.name, 'APIUserAbortError', String(e));
    }
    assert.equal(chunks, 3);
    const deadline = Date.now() + 5000;
    let running;
    let active;
    do {
      await sleep(20);
      running = await metric('tokengrid_num_requests_running');
      active = await metric('tokengrid_http_generation_requests_active');
    } while ((running !== 0 || active !== 0) && Date.now() < deadline);
    assert.equal(running, 0, 'no sequence keeps running');
    assert.equal(active, 0, 'no generation request is left');
    const generated = (await metric('tokengrid_generation_tokens_total')) - generatedBefore;
    assert.ok(generated >= 3 && generated < 400, `cancelled early: ${generated} tokens`);
  });

  it('gives each of 32 concurrent greedy streams its solo output, token for token', async () => {
    const prompts = Array.from({ length: 32 }, (_, i) =>
      ['Once upon a time', 'The cat', 'Lily wanted', 'Tom and Sam', 'One day, a bird'][i % 5] +
      ' '.repeat(1 + Math.floor(i / 5)) + ['went', 'saw', 'had', 'found', 'liked', 'said', 'was'][i % 7]);
    const solo = [];
    for (const p of prompts) solo.push(await streamedTokens(p, 48));
    const together = await Promise.all(prompts.map((p) => streamedTokens(p, 48)));
    for (let i = 0; i < prompts.length; i++) {
      assert.ok(solo[i].tokens.length > 0);
      assert.deepEqual(together[i].tokens, solo[i].tokens, `stream ${i}: ${prompts[i]}`);
      assert.equal(together[i].text, solo[i].text);
    }
  });

  it('reports the metrics it promises', async () => {
    const text = (await raw('GET', '/metrics', { key: null })).text;
    for (const name of [
      'tokengrid_http_requests_total{endpoint="/v1/completions",status="200"}',
      'tokengrid_http_requests_total{endpoint="/v1/chat/completions",status="400"}',
      'tokengrid_time_to_first_token_seconds_bucket',
      'tokengrid_inter_token_latency_seconds_bucket',
      'tokengrid_e2e_request_latency_seconds_count',
      'tokengrid_prompt_tokens_total',
      'tokengrid_generation_tokens_total',
      'tokengrid_num_requests_waiting',
      'tokengrid_num_requests_running',
      'tokengrid_kv_blocks_used',
      'tokengrid_kv_blocks_total',
      'tokengrid_prefix_cache_hit_ratio',
    ]) {
      assert.ok(text.includes(name), `/metrics has ${name}`);
    }
    assert.ok((await metric('tokengrid_kv_blocks_total')) > 0);
  });

  it('is measured by tokengrid loadgen', async () => {
    const run = spawnSync(BIN, ['loadgen', base, '--api-key', KEY, '--concurrency', '4',
      '--requests', '8', '--input-tokens', '32', '--max-tokens', '16', '--json'],
    { encoding: 'utf8', timeout: 60000 });
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.model, modelName);
    assert.deepEqual(report.requests, { sent: 8, succeeded: 8, failed: 0 });
    assert.ok(report.output_tokens > 0 && report.output_tokens <= 8 * 16);
    assert.ok(report.ttft.p50_ms > 0);
    assert.ok(report.e2e.p99_ms >= report.ttft.p99_ms);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    const stream = await client.completions.create({
      model: modelName, prompt: 'Once upon a time', max_tokens: 100, temperature: 0, stream: true,
    });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    server.kill('SIGTERM');
    let text = '';
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
      for (const c of r.value.choices) text += c.text;
    }
    assert.ok(text.length > 0, 'the running stream finished during the drain');
    const exit = await Promise.race([serverExit, sleep(15000).then(() => 'timeout')]);
    assert.deepEqual(exit, { code: 0, signal: null });
    await assert.rejects(fetch(base + '/health'));
  });
});
