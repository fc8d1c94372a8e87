// `tokengrid serve` on a synthetic model of every architecture, each with its family's chat
// template, answering a chat request from the official OpenAI client.
//
// For each tiny shape: `tokengrid model synth` writes it, serve starts on a free loopback port
// and must report the template family it recognised, then one streamed and one plain chat
// request must come back well-formed with the usage counted. Run by CTest (label e2e) with
// TOKENGRID_BIN set, or by hand: TOKENGRID_BIN=build/tokengrid node --test tests/node/
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, openAIOrSkip, sleep } from './ports.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.TOKENGRID_BIN ?? path.resolve(here, '../../build/tokengrid');
const KEY = 'sk-tokengrid-arch';

const OpenAI = await openAIOrSkip();
if (!existsSync(BIN)) {
  console.log(`# SKIP: need ${BIN}`);
  process.exit(77);
}

const FAMILIES = [
  { shape: 'tiny-llama3', arch: 'llama', family: 'llama3' },
  { shape: 'tiny-qwen2', arch: 'qwen2', family: 'chatml' },
  { shape: 'tiny-qwen3', arch: 'qwen3', family: 'chatml' },
  { shape: 'tiny-phi3', arch: 'phi3', family: 'phi3' },
  { shape: 'tiny-gemma2', arch: 'gemma2', family: 'gemma' },
  { shape: 'tiny-gemma3', arch: 'gemma3', family: 'gemma' },
];


// Starts serve on `model`; resolves with the base URL, the process and its stderr so far.
async function startServer(model) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(BIN, ['serve', '-m', model, '--host', '127.0.0.1', '--port', String(port), '--api-key', KEY],
    { stdio: ['ignore', 'inherit', 'pipe'] });
  let log = '';
  server.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    const res = await fetch(base + '/ready').catch(() => null);
    if (res && res.status === 200) return { base, server, exited, log: () => log };
    await sleep(50);
  }
  server.kill('SIGKILL');
  throw new Error(`serve did not become ready: ${log}`);
}

describe('serve runs every architecture with its chat template', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tokengrid-arch-'));
  for (const { shape, arch, family } of FAMILIES) {
    it(`${arch} (${shape}, ${family} template)`, async () => {
      const model = path.join(dir, `${shape}.gguf`);
      const synth = spawnSync(BIN, ['model', 'synth', '--shape', shape, '--type', 'q8_0', '--seed', '3', '-o', model],
        { encoding: 'utf8' });
      assert.equal(synth.status, 0, synth.stderr);
      const { base, server, exited, log } = await startServer(model);
      try {
        const ready = new RegExp(`model ${shape} \\(${arch}\\).*chat template ${family}\\b`);
        for (let i = 0; i < 100 && !ready.test(log()); i++) await sleep(50);
        assert.match(log(), ready);
        const client = new OpenAI({ baseURL: base + '/v1', apiKey: KEY, maxRetries: 0, timeout: 60000 });
        const messages = [
          { role: 'system', content: 'You are terse.' },
          { role: 'user', content: 'Name a colour.' },
        ];
        const answer = await client.chat.completions.create({
          model: 'any', messages, max_tokens: 12, temperature: 0,
        });
        assert.equal(answer.choices.length, 1);
        assert.equal(answer.choices[0].message.role, 'assistant');
        assert.equal(typeof answer.choices[0].message.content, 'string');
        assert.ok(['stop', 'length'].includes(answer.choices[0].finish_reason));
        assert.ok(answer.usage.prompt_tokens > 5, 'the template framed the messages');
        assert.ok(answer.usage.completion_tokens >= 1 && answer.usage.completion_tokens <= 12);

        const stream = await client.chat.completions.create({
          model: 'any', messages, max_tokens: 12, temperature: 0, stream: true,
        });
        let text = '';
        for await (const chunk of stream) {
          for (const c of chunk.choices) text += c.delta.content ?? '';
        }
        assert.equal(text, answer.choices[0].message.content, 'streamed and plain greedy answers agree');
      } finally {
        server.kill('SIGTERM');
        const { code } = await exited;
        assert.equal(code, 0, `serve exits cleanly: ${log()}`);
      }
    });
  }
  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
