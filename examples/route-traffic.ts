/**
 * Traffic per route rule, as `linkerd viz routes` shows it: a control plane (in-process, insecure, on
 * loopback: an example, not a deployment), two Routes in front of `api`, a `web` mesh calling through
 * both and around them, then `hyphae top --routes` and `hyphae describe service api -o json`, the CLI as
 * a user runs it (docs/usage.md "CLI views", "Output").
 *
 *   npm run build && node build/examples/route-traffic.js
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createMesh } from 'hyphae';
import { createControlPlane } from 'hyphae/control-plane';
import { cliPath } from './lib/child.js';

const exec = promisify(execFile);
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-route-traffic-'));
const cp = await createControlPlane({ port: 0, dataDir, insecure: true, log: () => {} });
const hyphae = async (...args: string[]) => (await exec(process.execPath, [cliPath, ...args, '--control-plane', cp.url], { timeout: 60_000 })).stdout;
try {
  const route = (name: string, prefix: string, rule?: string) => ({
    apiVersion: 'hyphae.dev/v1',
    kind: 'Route',
    metadata: { name },
    spec: { parentRefs: [{ name: 'api' }], rules: [{ ...(rule && { name: rule }), matches: [{ path: { type: 'PathPrefix', value: prefix } }], backendRefs: [{ name: 'api' }] }] },
  });
  const api = await createMesh({ controlPlane: cp.url, service: 'api', server: { drainDelayMs: 50 } });
  const server = api.wrapServer(
    http.createServer((req, res) => {
      res.statusCode = req.url === '/orders/fail' ? 500 : 200;
      res.end('ok');
    }),
  );
  server.listen(0, '127.0.0.1');
  await api.registered(server);
  // The routes once api exists (a Route's service must), before web: its first call waits for
  // discovery's first answer, which carries them.
  for (const r of [route('api-items', '/items', 'list'), route('api-orders', '/orders')]) {
    const res = await fetch(`${cp.url}/v1/resources`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(r) });
    if (res.status !== 200) throw new Error(`PUT ${r.metadata.name}: ${res.status} ${await res.text()}`);
  }
  // A report a minute: what the control plane shows below is the last one, which close() sends.
  const web = await createMesh({ controlPlane: cp.url, service: 'web', telemetry: { statsIntervalMs: 60_000 } });
  for (const p of ['/items/1', '/items/2', '/items/3', '/orders/1', '/orders/fail', '/health']) {
    const r = await web.request(`http://api${p}`);
    await r.body.text();
  }
  await web.close();

  process.stdout.write(await hyphae('top', '--routes', '--once', '--window', '60'));
  const described = JSON.parse(await hyphae('describe', 'service', 'api', '-o', 'json', '--window', '60')) as {
    routeTraffic: { route: string; rule: string | null; requests: number; errors: number }[];
  };
  console.log('\ndescribe service api -o json, routeTraffic:');
  for (const r of described.routeTraffic) console.log(`  ${r.route} ${r.rule ?? '-'}: ${r.requests} requests, ${r.errors} errors`);
  await api.close();
  console.log('route-traffic ok');
} finally {
  await cp.close();
  await rm(dataDir, { recursive: true, force: true });
}
