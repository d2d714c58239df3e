/**
 * The process bench/server-memory.ts measures: a server, plain or meshed, with
 * the small fixed answer of bench/lib/cost-server.ts. Prints `listening <port>`
 * once it serves (a meshed one once registered); on SIGUSR2 it prints
 * `memory-sample {json}` (stage `after the requests`) with its memory after two full GCs
 * (`--expose-gc`), V8's heap spaces and, with bench/lib/rss-register.ts
 * imported, the ES modules loaded so far.
 *
 *   plain            node:http, nothing else imported
 *   mesh             createMesh (HYPHAE_* variables: a real control plane) + wrapServer, registered
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';

const here = path.dirname(fileURLToPath(import.meta.url));
const hyphae = path.resolve(here, '../../src/index.js');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const body = Buffer.from('{"ok":true,"service":"bench"}');
const headers = { 'content-type': 'application/json', 'content-length': body.length };
const handler: http.RequestListener = (_req, res) => {
  res.writeHead(200, headers);
  res.end(body);
};

function modules(): string[] {
  const list = process.env.RSS_MODULES_FILE;
  if (!list) return [];
  return readFileSync(list, 'utf8')
    .split('\n')
    .filter((u) => u.startsWith('file:'))
    .map((u) => fileURLToPath(u));
}

function sample(stage: string): void {
  gc!();
  gc!();
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]));
  console.log(`memory-sample ${JSON.stringify({ stage, rss: m.rss, heapUsed: m.heapUsed, external: m.external, spaces, modules: modules() })}`);
}

const mode = process.argv[2];
sample('started');
let server: http.Server;
let registered: () => Promise<unknown> = async () => undefined;
if (mode === 'plain') {
  server = http.createServer(handler);
} else if (mode === 'mesh') {
  const { createMesh, meshOptionsFromEnv } = (await import(hyphae)) as typeof import('../../src/index.js');
  sample('hyphae imported');
  const mesh = await createMesh({ ...meshOptionsFromEnv(), server: { drainDelayMs: 0, gracePeriodMs: 1_000 } });
  sample('mesh created');
  const wrapped = mesh.wrapServer(http.createServer(handler));
  server = wrapped;
  registered = () => mesh.registered(wrapped);
  process.on('SIGTERM', () => void mesh.close().then(() => process.exit(0)));
} else {
  throw new Error(`unknown mode ${mode}`);
}
server.keepAliveTimeout = 60_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
await registered();
sample('listening');
console.log(`listening ${(server.address() as AddressInfo).port}`);
// A signal, not a request: a request would be in flight, and through the stack, while it is measured.
process.on('SIGUSR2', () => sample('after the requests'));
if (mode === 'plain') process.on('SIGTERM', () => process.exit(0));
