/**
 * Fail-static with a real control plane process: SIGKILL it, and calls keep
 * working on the last-known-good state; a process started during the outage
 * starts from the disk cache; when the control plane returns (same address),
 * clients resync and a change reaches them.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, it } from 'node:test';
import { createMesh, ErrorCode, isMeshError, type Mesh } from '../../src/index.js';
import type { Logger } from '../../src/core/logger.js';
import { cacheDirFor } from '../../src/discovery/cache-file.js';
import { call, makeTempDir, register, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { startApi, waitUntil, type RunningService } from '../helpers/services.js';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (msg: string) => void lines.push(`${level} ${msg}`);
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

async function getOk(mesh: Mesh, n: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const res = await mesh.request('http://api/');
    await res.body.text();
    if (res.statusCode === 200) ok++;
  }
  return ok;
}

it('control plane SIGKILLed: calls keep working, a new process starts from the disk cache, and both resync when it returns', { timeout: 60_000 }, async () => {
  const dataDir = await makeTempDir();
  const cacheRoot = await makeTempDir('hyphae-cache-');
  const emptyRoot = await makeTempDir('hyphae-cache-empty-');
  cleanup.push(() => Promise.all([dataDir, cacheRoot, emptyRoot].map((d) => rm(d, { recursive: true, force: true }))));

  // Insecure: a mesh with mTLS cannot start while its CA is unreachable (it has no certificate yet), so the
  // start-from-cache half of this test needs a plain control plane. A running secure mesh keeping its calls
  // through an outage is in ca-outage.test.ts.
  let cp: RunningControlPlane = await startControlPlane({ dataDir, insecure: true, args: ['--cluster', 'dc7'] });
  cleanup.push(() => cp.stop('SIGKILL'));
  const api: RunningService = await startApi(cp.url, 'v1', { HYPHAE_TTL_SECONDS: '3' });
  cleanup.push(() => api.child.kill('SIGKILL'));

  const meshA = await createMesh({ controlPlane: cp.url, cacheDir: cacheRoot });
  cleanup.push(() => meshA.close());
  assert.equal(await getOk(meshA, 5), 5);
  const file = path.join(cacheDirFor(cacheRoot, [cp.url]), 'service.default.api.json');
  await waitUntil(() => existsSync(file) && existsSync(path.join(path.dirname(file), 'cluster.json')), 2_000);

  // --- outage
  await cp.stop('SIGKILL');
  assert.equal(await getOk(meshA, 20), 20, 'a running client keeps calling on its last-known-good endpoints');

  const logB = captureLogger();
  const t0 = performance.now();
  const meshB = await createMesh({ controlPlane: cp.url, cacheDir: cacheRoot, logger: logB });
  const startMs = performance.now() - t0;
  cleanup.push(() => meshB.close());
  assert.ok(
    logB.lines.some((l) => /starting from the discovery cache/.test(l)),
    logB.lines.join('\n'),
  );
  assert.equal(await getOk(meshB, 20), 20, 'a client started during the outage calls from the disk cache');
  // It knows its cluster as the last run heard it, not only once the control plane answers again.
  assert.equal(meshB.cluster, 'dc7', 'the cluster name comes from the disk cache');

  await assert.rejects(createMesh({ controlPlane: cp.url, cacheDir: emptyRoot, connectAttempts: 1 }), (err) => isMeshError(err, ErrorCode.CONTROL_PLANE_UNREACHABLE));

  // --- the control plane returns at the same address
  const port = cp.port;
  const t1 = performance.now();
  cp = await startControlPlane({ dataDir, insecure: true, args: ['--cluster', 'dc7', '--port', String(port)] });
  await waitUntil(() => logB.lines.some((l) => /reachable again/.test(l)), 5_000);
  const resyncMs = performance.now() - t1;
  // The api instance re-registers on its own (its heartbeat is answered 404).
  await waitUntil(async () => ((await call<{ instances: unknown[] }>(cp.url, 'GET', '/v1/instances?service=api')).body?.instances.length ?? 0) === 1, 10_000, 50);

  // A change after the return reaches both clients.
  await register(cp.url, { service: 'api', address: '127.0.0.1', port: 9, labels: { canary: 'yes' } });
  const t2 = performance.now();
  await waitUntil(() => meshB.endpoints('api').length === 2 && meshA.endpoints('api').length === 2, 5_000);
  const changeMs = performance.now() - t2;
  assert.ok(changeMs < 1_000, `the change reached the clients in ${changeMs.toFixed(0)} ms`);
  console.log(
    `# fail-static: start from cache ${startMs.toFixed(0)} ms; resync ${resyncMs.toFixed(0)} ms after the control plane restarted; ` + `a change reached both clients in ${changeMs.toFixed(0)} ms`,
  );
});
