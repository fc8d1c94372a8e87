// Holds many streaming chat completions open at once through a server, each on its own
// keep-alive connection, and checks that every one keeps receiving chunks. A benchmark helper
// of scripts/bench_gateway.sh (the server's memory and threads are read while they are open).
//
//   node bench/hold_streams.mjs --url http://127.0.0.1:8080 --streams 2000 --ready FILE --hold-s 5
//
// Opens the streams (at most --opening connects pending at a time), waits until every stream
// has received a content event, writes FILE, holds them --hold-s seconds more, then closes them
// and prints one JSON line: streams asked, opened (answered 200), receiving (got an event during
// the hold), errors, and the first error. Exits 0 only when every stream was receiving.
import http from "node:http";
import fs from "node:fs";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    streams: { type: "string", default: "2000" },
    opening: { type: "string", default: "100" },
    ready: { type: "string" },
    "hold-s": { type: "string", default: "5" },
    "timeout-s": { type: "string", default: "120" },
  },
});
const target = new URL("/v1/chat/completions", args.url);
const total = Number(args.streams);
const opening = Number(args.opening);
const body = JSON.stringify({
  model: "instant",
  messages: [{ role: "user", content: "Keep talking." }],
  stream: true,
});
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

const streams = [];
let pending = 0;
let started = 0;
let errors = 0;
let firstError = "";

function fail(s, what) {
  if (s.failed) return;
  s.failed = true;
  errors++;
  if (!firstError) firstError = what;
}

function open() {
  const s = { events: 0, opened: false, failed: false, request: null };
  streams.push(s);
  pending++;
  let tail = "";
  s.request = http.request(
    target,
    { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
    (res) => {
      pending--;
      openMore();
      if (res.statusCode !== 200) {
        fail(s, `status ${res.statusCode}`);
        res.resume();
        return;
      }
      s.opened = true;
      res.setEncoding("utf8");
      res.on("data", (text) => {
        const parts = (tail + text).split("\n\n");
        tail = parts.pop();
        for (const event of parts) if (event.startsWith("data: {")) s.events++;
      });
      res.on("error", (e) => fail(s, e.message));
    },
  );
  s.request.on("error", (e) => {
    if (!s.opened) {
      pending--;
      openMore();
    }
    if (!closing) fail(s, e.message);
  });
  s.request.end(body);
}

function openMore() {
  while (started < total && pending < opening) {
    started++;
    open();
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let closing = false;

async function main() {
  const deadline = Date.now() + 1000 * Number(args["timeout-s"]);
  openMore();
  while (Date.now() < deadline) {
    const live = streams.filter((s) => s.opened && !s.failed && s.events > 0).length;
    if (live + errors >= total) break;
    await sleep(50);
  }
  if (args.ready) fs.writeFileSync(args.ready, `${Date.now()}\n`);
  const before = streams.map((s) => s.events);
  await sleep(1000 * Number(args["hold-s"]));
  const receiving = streams.filter((s, i) => !s.failed && s.events > before[i]).length;
  const opened = streams.filter((s) => s.opened).length;
  closing = true;
  for (const s of streams) s.request.destroy();
  agent.destroy();
  console.log(JSON.stringify({ streams: total, opened, receiving, errors, first_error: firstError }));
  process.exit(receiving === total ? 0 : 1);
}

main();
