#!/usr/bin/env node
// Shows prefix caching through the API: two requests share a 400-token prefix; the second's
// time to first token should be much lower, and /metrics should count the hit.
//
//   node scripts/prefix_reuse.mjs [--bin build/tokengrid] [--model FILE] [--threads 2]
//
// Without --model it synthesizes tinyllama-1.1b (Q4_0) into build/ once. The prompts are token
// ids, so exactly 400 tokens are shared whatever the tokenizer; each request asks for one
// token, so its latency is its time to first token. Prints both TTFTs and the metrics as JSON;
// exits 1 when no hit shows.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const bin = option('--bin', path.join(repo, 'build/tokengrid'));
const threads = option('--threads', '2');
let model = option('--model', '');
const PREFIX = 400;
const SUFFIX = 24;

if (!model) {
  model = path.join(repo, 'build/tinyllama-1.1b-q4_0.gguf');
  if (!existsSync(model)) {
    console.error(`synthesizing ${model} ...`);
    const r = spawnSync(bin, ['model', 'synth', '--shape', 'tinyllama-1.1b', '--type', 'q4_0',
      '--seed', '1', '-o', model], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(2);
  }
}

const port = await new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const base = `http://127.0.0.1:${port}`;
const server = spawn(bin, ['serve', '-m', model, '--port', String(port), '--threads', threads],
  { stdio: ['ignore', 'inherit', 'inherit'] });
const stop = () => server.exitCode === null && server.kill('SIGTERM');
process.on('exit', stop);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (let i = 0; ; i++) {
  const res = await fetch(base + '/ready').catch(() => null);
  if (res?.status === 200) break;
  if (i > 2400 || server.exitCode !== null) {
    console.error('the server did not become ready');
    process.exit(2);
  }
  await sleep(50);
}

// Token ids well inside any Llama vocabulary, away from the control tokens.
const ids = (seed, n) => Array.from({ length: n }, (_, i) => 1000 + ((seed * 7919 + i * 104729) % 20000));
const prefix = [1, ...ids(1, PREFIX - 1)];

async function metrics() {
  const text = await (await fetch(base + '/metrics')).text();
  const value = (name) => Number(text.split('\n').find((l) => l.startsWith(name + ' '))?.split(' ')[1]);
  return {
    prefix_cache_hit_tokens_total: value('tokengrid_prefix_cache_hit_tokens_total'),
    prefix_cache_query_tokens_total: value('tokengrid_prefix_cache_query_tokens_total'),
    prefix_cache_hit_ratio: value('tokengrid_prefix_cache_hit_ratio'),
  };
}

async function ttft(suffixSeed) {
  const start = performance.now();
  const res = await fetch(base + '/v1/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: [...prefix, ...ids(suffixSeed, SUFFIX)], max_tokens: 1, temperature: 0 }),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(JSON.stringify(body));
  return { ms: performance.now() - start, usage: body.usage };
}

const before = await metrics();
const first = await ttft(2);
const second = await ttft(3);
const after = await metrics();
stop();
const report = {
  model: path.basename(model),
  threads: Number(threads),
  shared_prefix_tokens: PREFIX,
  prompt_tokens: PREFIX + SUFFIX,
  first_ttft_ms: Math.round(first.ms * 10) / 10,
  second_ttft_ms: Math.round(second.ms * 10) / 10,
  speedup: Math.round((first.ms / second.ms) * 10) / 10,
  second_cached_tokens: second.usage?.prompt_tokens_details?.cached_tokens,
  metrics_before: before,
  metrics_after: after,
};
console.log(JSON.stringify(report, null, 2));
const hits = after.prefix_cache_hit_tokens_total - (before.prefix_cache_hit_tokens_total || 0);
process.exit(hits >= PREFIX - 16 && second.ms < first.ms ? 0 : 1);
