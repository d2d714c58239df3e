/**
 * The control plane's own metrics and JSON logs: an in-process control plane with `logFormat: 'json'`
 * and the loopback metrics listener, a viewer token that reads `GET /metrics` on the API (the setup to
 * use for a remote Prometheus, docs/usage.md "Control plane metrics and logs"), and a few of its series.
 *
 *   npm run build && node build/examples/control-plane-metrics.js
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { createControlPlane } from 'hyphae/control-plane';

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-cp-metrics-'));
const logLines: string[] = [];
const cp = await createControlPlane({
  dataDir,
  port: 0,
  logFormat: 'json',
  log: (line) => logLines.push(line),
  // Port 0 here; a real one would be e.g. 9464. Loopback, plain HTTP, no token.
  metricsListen: { port: 0 },
});
try {
  const ca = await readFile(cp.caFile!, 'utf8');
  const admin = (await readFile(cp.adminTokenFile!, 'utf8')).trim();
  const dispatcher = new Agent({ connect: { ca } });

  // A viewer token: what Prometheus's credentials_file should hold.
  const created = await request(`${cp.url}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'viewer' }),
    dispatcher,
  });
  const { token } = (await created.body.json()) as { token: string };

  const res = await request(`${cp.url}/metrics`, { headers: { authorization: `Bearer ${token}` }, dispatcher });
  const text = await res.body.text();
  console.log(`GET /metrics with a viewer token: ${res.statusCode} ${String(res.headers['content-type'])}`);
  for (const line of text.split('\n')) {
    if (/^hyphae_control_plane_(http_requests_total|registry_instances|watch_streams) /.test(line) || /^hyphae_control_plane_http_requests_total\{/.test(line)) console.log(`  ${line}`);
  }

  const local = await fetch(cp.metricsUrl!);
  console.log(`GET ${cp.metricsUrl} without a token: ${local.status}`);

  const first = JSON.parse(logLines[0]!) as Record<string, unknown>;
  console.log(`first log line's fields: ${Object.keys(first).slice(0, 4).join(', ')}`);
  await dispatcher.close();
} finally {
  await cp.close();
  await rm(dataDir, { recursive: true, force: true });
}
console.log('control-plane-metrics ok');
