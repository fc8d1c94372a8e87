// The gateway holds many concurrent streams: STREAMS (2,000 by default) streaming chat
// completions open at once through `tokengrid gateway` to a site that never finishes them
// (bench/instant_backend --hold, one chunk per interval), every one still receiving chunks after
// all are open, on a handful of gateway threads (no thread per request). Not timed: the figures
// (RSS, per-stream memory) are the benchmark's, in bench/README.md.
//
// Run by CTest (label e2e) with TOKENGRID_BIN and TOKENGRID_INSTANT_BACKEND set, or by hand:
//   TOKENGRID_BIN=build/tokengrid TOKENGRID_INSTANT_BACKEND=build/src/http/instant_backend \
//     node --test tests/node/gateway_streams.test.mjs
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort, sleep } from './ports.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const BIN = process.env.TOKENGRID_BIN ?? path.join(repo, 'build/tokengrid');
const BACKEND = process.env.TOKENGRID_INSTANT_BACKEND ?? path.join(repo, 'build/src/http/instant_backend');
const STREAMS = Number(process.env.STREAMS ?? 2000);
// Far more threads than the gateway runs, far fewer than one per stream.
const MAX_THREADS = 64;

for (const bin of [BIN, BACKEND]) {
  if (!existsSync(bin)) {
    console.log(`# SKIP: need ${bin}`);
    process.exit(77);
  }
}

const work = mkdtempSync(path.join(os.tmpdir(), 'tokengrid-streams-'));
const children = [];

function start(bin, args) {
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.log = '';
  child.stderr.on('data', (d) => { child.log += d; });
  children.push(child);
  return child;
}

async function waitReady(url, child) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`exited (${child.exitCode}) before serving:\n${child.log}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  throw new Error(`${url} never answered:\n${child.log}`);
}

function threadsOf(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Threads:\s+(\d+)/m);
  return Number(m[1]);
}

// Runs bench/hold_streams.mjs; resolves with its JSON report and the gateway's thread count
// read while every stream was open.
function holdStreams(url, gatewayPid) {
  const ready = path.join(work, 'ready');
  return new Promise((resolve, reject) => {
    const client = spawn(process.execPath, [path.join(repo, 'bench/hold_streams.mjs'), '--url', url,
      '--streams', String(STREAMS), '--ready', ready, '--hold-s', '3', '--timeout-s', '150'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let threads = -1;
    client.stdout.on('data', (d) => { out += d; });
    client.stderr.on('data', (d) => { err += d; });
    const poll = setInterval(() => {
      if (threads < 0 && existsSync(ready)) threads = threadsOf(gatewayPid);
    }, 50);
    client.on('exit', () => {
      clearInterval(poll);
      try {
        resolve({ report: JSON.parse(out), threads });
      } catch {
        reject(new Error(`hold_streams printed no report:\n${out}\n${err}`));
      }
    });
  });
}

describe(`the gateway holds ${STREAMS} concurrent streams`, () => {
  let gateway;
  let url;

  before(async () => {
    const backendPort = await freePort();
    const backend = start(BACKEND, ['--port', String(backendPort), '--threads', '2', '--hold', '--stream-delay-ms', '1000']);
    await waitReady(`http://127.0.0.1:${backendPort}/health`, backend);
    const port = await freePort();
    const grid = path.join(work, 'grid.yaml');
    writeFileSync(grid, [
      `listen: {host: 127.0.0.1, port: ${port}}`,
      'signals: {synthetic: {seed: 1}}',
      'policy: {name: least-outstanding}',
      'default_region: us-east',
      // Patient health checks: on a starved machine a probe behind 2,000 streams may take
      // seconds, and this test is about holding streams, not about ejecting slow sites.
      'health: {interval_ms: 1000, timeout_ms: 10000, unhealthy_threshold: 5}',
      'sites:',
      '  - name: site-0',
      '    cloud: test',
      '    region: r0',
      '    zone: US-MIDA-PJM',
      '    accelerators: [{type: cpu, count: 1}]',
      `    endpoints: [{url: "http://127.0.0.1:${backendPort}", models: [instant], api: openai, max_concurrency: ${STREAMS * 2}}]`,
      '',
    ].join('\n'));
    gateway = start(BIN, ['gateway', '--config', grid]);
    url = `http://127.0.0.1:${port}`;
    await waitReady(`${url}/health`, gateway);
  });

  after(async () => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.on('exit', r)))));
    rmSync(work, { recursive: true, force: true });
  });

  it('keeps every stream receiving chunks, on a few threads', { timeout: 180000 }, async () => {
    const { report, threads } = await holdStreams(url, gateway.pid);
    assert.equal(report.first_error, '', JSON.stringify(report));
    assert.equal(report.opened, STREAMS, JSON.stringify(report));
    assert.equal(report.receiving, STREAMS, JSON.stringify(report));
    assert.ok(threads > 0 && threads <= MAX_THREADS, `the gateway ran ${threads} threads with ${STREAMS} streams open`);
    assert.equal(gateway.exitCode, null, `the gateway exited:\n${gateway.log}`);
  });
});
