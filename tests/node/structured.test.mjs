// End-to-end tests of structured output, tool calling and embeddings in `tokengrid serve`,
// driven by the official OpenAI client, on a random-weight model that `tokengrid model synth`
// writes into a temporary directory: whatever the model wants, the grammar makes the output
// valid, so every output is checked against its schema with ajv.
//   TOKENGRID_BIN=build/tokengrid node --test tests/node/structured.test.mjs
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort, sleep } from './ports.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const BIN = process.env.TOKENGRID_BIN ?? path.join(repo, 'build/tokengrid');
const KEY = 'sk-tokengrid-structured';

let OpenAI;
let Ajv;
try {
  ({ default: OpenAI } = await import('openai'));
  ({ default: Ajv } = await import('ajv'));
} catch {
  console.log('# SKIP: the openai or ajv package is missing; run npm install in tests/node');
  process.exit(77);
}
if (!existsSync(BIN)) {
  console.log(`# SKIP: need ${BIN}`);
  process.exit(77);
}

const ajv = new Ajv({ strict: true, allErrors: true });

let dir;
let server;
let base;
let client;
let model;

async function raw(route, body) {
  const res = await fetch(base + route, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

// `count` requests, at most `width` at a time (so that the engine batches them).
async function many(count, width, make) {
  const results = new Array(count);
  let next = 0;
  async function lane() {
    while (next < count) {
      const i = next++;
      results[i] = await make(i);
    }
  }
  await Promise.all(Array.from({ length: width }, lane));
  return results;
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tokengrid-structured-'));
  const modelPath = path.join(dir, 'tiny.gguf');
  const synth = spawnSync(BIN, ['model', 'synth', '--shape', 'tiny', '--context', '2048', '--type', 'q8_0',
    '--seed', '5', '-o', modelPath], { stdio: 'inherit' });
  assert.equal(synth.status, 0, 'model synth');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(BIN, ['serve', '-m', modelPath, '--host', '127.0.0.1', '--port', String(port), '--api-key', KEY,
    '--max-batch', '16'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const deadline = Date.now() + 60000;
  let ready = false;
  while (Date.now() < deadline && !ready) {
    const res = await fetch(base + '/ready').catch(() => null);
    ready = res !== null && res.status === 200;
    if (!ready) await sleep(50);
  }
  assert.ok(ready, 'the server became ready');
  client = new OpenAI({ baseURL: base + '/v1', apiKey: KEY, maxRetries: 0, timeout: 120000 });
  model = (await client.models.list()).data[0].id;
});

after(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.on('exit', resolve));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const orderSchema = {
  type: 'object',
  properties: {
    customer: {
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 12 },
        tier: { enum: ['free', 'pro', 'enterprise'] },
        age: { type: 'integer', minimum: 18, maximum: 120 },
      },
      required: ['name', 'tier', 'age'],
      additionalProperties: false,
    },
    items: {
      type: 'array',
      minItems: 1,
      maxItems: 3,
      items: {
        type: 'object',
        properties: {
          sku: { type: 'string', pattern: '^[A-Z]{2}-[0-9]{3}$' },
          quantity: { type: 'integer', minimum: 1, maximum: 99 },
          gift: { type: 'boolean' },
        },
        required: ['sku', 'quantity'],
        additionalProperties: false,
      },
    },
    status: { enum: ['new', 'paid', 'shipped', null] },
    note: { anyOf: [{ type: 'string', maxLength: 10 }, { type: 'null' }] },
  },
  required: ['customer', 'items', 'status', 'note'],
  additionalProperties: false,
};

describe('response_format json_schema', () => {
  it('makes 50 sampled outputs at temperature 1 parse and validate', async () => {
    const validate = ajv.compile(orderSchema);
    const results = await many(50, 10, (i) => client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: `Write order number ${i} as JSON.` }],
      temperature: 1,
      seed: 1000 + i,
      max_tokens: 1200,
      response_format: { type: 'json_schema', json_schema: { name: 'order', strict: true, schema: orderSchema } },
    }));
    for (const r of results) {
      const choice = r.choices[0];
      assert.equal(choice.finish_reason, 'stop', choice.message.content);
      const value = JSON.parse(choice.message.content);
      assert.ok(validate(value), `${choice.message.content}\n${JSON.stringify(validate.errors)}`);
      assert.deepEqual(Object.keys(value), ['customer', 'items', 'status', 'note']);
      assert.match(r.system_fingerprint, /^fp_[0-9a-f]{10}$/);
    }
  });

  it('streams output that validates too', async () => {
    const validate = ajv.compile(orderSchema);
    const stream = await client.chat.completions.create({
      model, messages: [{ role: 'user', content: 'An order, please.' }], temperature: 1, seed: 7, max_tokens: 1200,
      response_format: { type: 'json_schema', json_schema: { name: 'order', schema: orderSchema } }, stream: true,
    });
    let text = '';
    let finish = null;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    assert.equal(finish, 'stop');
    assert.ok(validate(JSON.parse(text)), text);
  });

  it('gives JSON objects for json_object, and honours regex and guided_choice', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await client.chat.completions.create({
        model, messages: [{ role: 'user', content: 'JSON please' }], temperature: 1, seed: i, max_tokens: 1500,
        response_format: { type: 'json_object' },
      });
      if (r.choices[0].finish_reason !== 'stop') continue;  // a free object may run long
      const value = JSON.parse(r.choices[0].message.content);
      assert.equal(typeof value, 'object');
      assert.ok(!Array.isArray(value) && value !== null);
    }
    const re = await raw('/v1/chat/completions', {
      messages: [{ role: 'user', content: 'a date' }], temperature: 1, max_tokens: 50,
      response_format: { type: 'regex', regex: '20[0-9]{2}-(0[1-9]|1[0-2])-[0-2][0-9]' },
    });
    assert.equal(re.status, 200);
    assert.match(re.json.choices[0].message.content, /^20[0-9]{2}-(0[1-9]|1[0-2])-[0-2][0-9]$/);
    const choice = await raw('/v1/completions', { prompt: 'Is it?', max_tokens: 10, guided_choice: ['yes', 'no'] });
    assert.ok(['yes', 'no'].includes(choice.json.choices[0].text));
  });

  it('refuses a schema keyword it cannot enforce, naming it', async () => {
    await assert.rejects(
      client.chat.completions.create({
        model, messages: [{ role: 'user', content: 'x' }],
        response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'number', multipleOf: 5 } } },
      }),
      (e) => e.status === 400 && e.param === 'response_format' && /multipleOf/.test(e.message),
    );
  });
});

const tools = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: {
        type: 'object',
        properties: {
          city: { type: 'string', minLength: 1, maxLength: 10 },
          unit: { enum: ['celsius', 'fahrenheit'] },
          days: { type: 'integer', minimum: 1, maximum: 7 },
        },
        required: ['city', 'unit'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'book_table',
      parameters: {
        type: 'object',
        properties: {
          people: { type: 'integer', minimum: 1, maximum: 12 },
          names: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 },
        },
        required: ['people'],
        additionalProperties: false,
      },
    },
  },
];
const validators = Object.fromEntries(tools.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));

function checkCall(call) {
  assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
  assert.equal(call.type, 'function');
  const validate = validators[call.function.name];
  assert.ok(validate, `a known function: ${call.function.name}`);
  const args = JSON.parse(call.function.arguments);
  assert.ok(validate(args), `${call.function.arguments}\n${JSON.stringify(validate.errors)}`);
}

describe('tool calls', () => {
  it('with tool_choice required, every call names a tool and its arguments validate', async () => {
    const results = await many(12, 6, (i) => client.chat.completions.create({
      model, messages: [{ role: 'user', content: `Help me with request ${i}.` }], temperature: 1, seed: 50 + i,
      max_tokens: 1500, tools, tool_choice: 'required',
    }));
    for (const r of results) {
      const choice = r.choices[0];
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, null);
      assert.ok(choice.message.tool_calls.length >= 1);
      choice.message.tool_calls.forEach(checkCall);
    }
  });

  it('a named function, without parallel calls, is exactly one call of it', async () => {
    const r = await client.chat.completions.create({
      model, messages: [{ role: 'user', content: 'Book a table.' }], temperature: 1, seed: 3, max_tokens: 1500,
      tools, tool_choice: { type: 'function', function: { name: 'book_table' } }, parallel_tool_calls: false,
    });
    assert.equal(r.choices[0].message.tool_calls.length, 1);
    assert.equal(r.choices[0].message.tool_calls[0].function.name, 'book_table');
    checkCall(r.choices[0].message.tool_calls[0]);
  });

  it('streams calls as OpenAI does: id, type and name first, then argument pieces', async () => {
    for (let seed = 0; seed < 4; seed++) {
      const stream = await client.chat.completions.create({
        model, messages: [{ role: 'user', content: 'Weather?' }], temperature: 1, seed, max_tokens: 1500,
        tools, tool_choice: 'required', stream: true,
      });
      const calls = [];
      let finish = null;
      for await (const chunk of stream) {
        for (const c of chunk.choices) {
          if (c.finish_reason) finish = c.finish_reason;
          for (const piece of c.delta.tool_calls ?? []) {
            if (calls[piece.index] === undefined) {
              assert.match(piece.id, /^call_/);
              assert.equal(piece.type, 'function');
              assert.equal(piece.function.arguments, '');
              calls[piece.index] = { id: piece.id, type: 'function', function: { name: piece.function.name, arguments: '' } };
            } else {
              assert.equal(piece.id, undefined);
              calls[piece.index].function.arguments += piece.function.arguments;
            }
          }
        }
      }
      assert.equal(finish, 'tool_calls');
      assert.ok(calls.length >= 1);
      calls.forEach(checkCall);
    }
  });

  it('completes a round trip: call, tool result, answer', async () => {
    const messages = [{ role: 'user', content: 'What is the weather in Oslo?' }];
    const first = await client.chat.completions.create({
      model, messages, temperature: 1, seed: 11, max_tokens: 1500, tools,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const call = first.choices[0].message.tool_calls[0];
    checkCall(call);
    messages.push(first.choices[0].message);
    messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify({ temperature: 5, sky: 'clear' }) });
    const answer = await client.chat.completions.create({
      model, messages, temperature: 1, seed: 12, max_tokens: 40, tools, tool_choice: 'auto',
    });
    const message = answer.choices[0].message;
    assert.ok(typeof message.content === 'string' || message.tool_calls.length > 0);
    assert.ok(['stop', 'length', 'tool_calls'].includes(answer.choices[0].finish_reason));
    // The second prompt holds the first, the call and the tool's result.
    assert.ok(answer.usage.prompt_tokens > first.usage.prompt_tokens + first.usage.completion_tokens);
    const none = await client.chat.completions.create({
      model, messages, temperature: 1, seed: 12, max_tokens: 40, tools, tool_choice: 'none',
    });
    assert.equal(typeof none.choices[0].message.content, 'string');
    assert.equal(none.choices[0].message.tool_calls, undefined);
  });
});

function norm(v) {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

describe('embeddings', () => {
  it('the same text gives the same unit vector whatever the batch', async () => {
    const text = 'The quick brown fox jumps over the lazy dog';
    const alone = await client.embeddings.create({ model, input: text, encoding_format: 'float' });
    const vector = alone.data[0].embedding;
    assert.ok(Math.abs(norm(vector) - 1) < 1e-5);
    assert.equal(alone.usage.prompt_tokens, alone.usage.total_tokens);
    const others = Array.from({ length: 7 }, (_, i) => `another sentence number ${i} ${'x'.repeat(i * 9)}`);
    const batch = await client.embeddings.create({ model, input: [...others.slice(0, 3), text, ...others.slice(3)],
      encoding_format: 'float' });
    assert.equal(batch.data.length, 8);
    assert.deepStrictEqual(batch.data[3].embedding, vector);
    assert.notDeepStrictEqual(batch.data[0].embedding, vector);
    const together = await Promise.all([0, 1, 2, 3].map(() => client.embeddings.create({ model, input: text,
      encoding_format: 'float' })));
    for (const t of together) assert.deepStrictEqual(t.data[0].embedding, vector);
  });

  it('base64 holds the same float32 values', async () => {
    const text = 'embeddings in base64';
    const f = await client.embeddings.create({ model, input: text, encoding_format: 'float' });
    const b = await raw('/v1/embeddings', { model, input: text, encoding_format: 'base64' });
    const bytes = Buffer.from(b.json.data[0].embedding, 'base64');
    const floats = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
    assert.deepStrictEqual(floats, f.data[0].embedding);
    const viaClient = await client.embeddings.create({ model, input: text });  // the client asks for base64
    assert.deepStrictEqual(viaClient.data[0].embedding, f.data[0].embedding);
  });

  it('takes token ids, and refuses dimensions this model was not trained for', async () => {
    const ids = await client.embeddings.create({ model, input: [[5, 6, 7], [8, 9]], encoding_format: 'float' });
    assert.equal(ids.usage.prompt_tokens, 5);
    await assert.rejects(client.embeddings.create({ model, input: 'x', dimensions: 16 }),
      (e) => e.status === 400 && e.param === 'dimensions');
  });
});

describe('completions and chat details', () => {
  it('best_of, echo, logprobs with top_logprobs, include_usage', async () => {
    const best = await client.completions.create({ model, prompt: 'Once', max_tokens: 8, best_of: 3, n: 2, seed: 1 });
    assert.equal(best.choices.length, 2);
    assert.equal(best.usage.completion_tokens > 0, true);
    const echo = await client.completions.create({ model, prompt: 'Echo me', max_tokens: 4, echo: true });
    assert.ok(echo.choices[0].text.startsWith('Echo me'));
    const lp = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4,
      logprobs: true, top_logprobs: 3 });
    assert.equal(lp.choices[0].logprobs.content[0].top_logprobs.length, 3);
    const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage.total_tokens > 0);
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
  });

  it('refuses what it cannot honour, by name, and ignores unknown fields', async () => {
    await assert.rejects(client.completions.create({ model, prompt: 'def f(', suffix: '):' }),
      (e) => e.status === 400 && e.param === 'suffix');
    const refused = await raw('/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], modalities: ['audio'] });
    assert.equal(refused.status, 400);
    assert.equal(refused.json.error.param, 'modalities');
    const unknown = await raw('/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_tokens: 2,
      a_field_from_the_future: true });
    assert.equal(unknown.status, 200);
  });
});
