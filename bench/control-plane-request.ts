/**
 * What one API request costs the control plane, to compare builds before and after a change on its
 * request path (the per-route counters of metrics/ were measured with it). An in-process, plain-HTTP
 * control plane answers `GET /v1/health` to one keep-alive connection, one request at a time; the
 * figures are wall time and process CPU (client and server, the same client in both builds) per request,
 * as the median of several rounds. Then the cost of recording one answer in the counters on its own.
 *
 *   npm run build && node build/bench/control-plane-request.js [--module <control-plane index.js>] [--requests 20000] [--rounds 7]
 *
 * `--module` loads another build's control plane (e.g. main's build/src/control-plane/index.js) for the "before".
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import type { createControlPlane as CreateControlPlane } from '../src/control-plane/index.js';
import { ControlPlaneMetrics } from '../src/control-plane/metrics/control-plane-metrics.js';

const { values } = parseArgs({ options: { module: { type: 'string' }, requests: { type: 'string' }, rounds: { type: 'string' } } });
const requests = Number(values.requests ?? 20_000);
const rounds = Number(values.rounds ?? 7);
const modulePath = values.module ? path.resolve(values.module) : path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/control-plane/index.js');
const { createControlPlane } = (await import(pathToFileURL(modulePath).href)) as { createControlPlane: typeof CreateControlPlane };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-cp-'));
const cp = await createControlPlane({ dataDir, port: 0, insecure: true });
const pool = new Pool(cp.url, { connections: 1, pipelining: 1 });
const once = async () => {
  const res = await pool.request({ path: '/v1/health', method: 'GET' });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`health answered ${res.statusCode}`);
};
try {
  for (let i = 0; i < 2_000; i++) await once();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < requests; i++) await once();
    const t = performance.now() - t0;
    const c = process.cpuUsage(c0);
    wall.push((t * 1000) / requests);
    cpu.push((c.user + c.system) / requests);
  }
  console.log(`module ${modulePath}`);
  console.log(
    `GET /v1/health, ${requests} requests x ${rounds} rounds: wall ${median(wall).toFixed(2)} µs/request (rounds ${wall.map((w) => w.toFixed(1)).join(' ')}), CPU ${median(cpu).toFixed(2)} µs/request`,
  );
} finally {
  await pool.close();
  await cp.close();
  await rm(dataDir, { recursive: true, force: true });
}

// The counters alone: what the request path pays for them (two performance.now(), a Map lookup, two increments).
const metrics = new ControlPlaneMetrics({ watchStreams: () => 0, statsStreams: () => 0, services: () => 0, instances: () => 0, resources: () => new Map() });
const route = { method: 'GET' as const, path: '/v1/health', auth: 'none' as const, handle: () => ({ status: 200 }) };
metrics.addRoutes([route]);
const n = 5_000_000;
const t0 = performance.now();
for (let i = 0; i < n; i++) {
  const start = performance.now();
  metrics.route(route, 'GET').record(200, (performance.now() - start) / 1000);
}
console.log(`recording one answer (timing included): ${(((performance.now() - t0) * 1e6) / n).toFixed(1)} ns`);
metrics.close();
