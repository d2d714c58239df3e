/**
 * Must-show 2: every instance of a service SIGKILLed and restarted, one by
 * one, under load: 0 failed idempotent requests. Unlike a rolling restart
 * (test/integration/rolling-restart.test.ts: SIGTERM, drain), nothing warns the
 * clients: connections die mid-request, the dead instance stays registered
 * until its lease expires, and only retries and outlier detection hide it.
 *
 * Each round: SIGKILL one instance, start its replacement (a new process on a
 * new port), and wait until the mesh has the replacement and the dead one's
 * lease (2 s) has expired — as a deployment waits for readiness — before the
 * next. Real processes, mTLS.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createMesh, type EjectionHookEvent, type Mesh, type RetryHookEvent } from '../../src/index.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { startApi, waitUntil, type RunningService } from '../helpers/services.js';
import { openLoop, pct, summary } from './resilience-helpers.js';

const TTL = { HYPHAE_TTL_SECONDS: '2' };
let cp: RunningControlPlane;
let apis: RunningService[] = [];
const everyone: RunningService[] = [];
let mesh: Mesh;
const retries: RetryHookEvent[] = [];
const ejections: EjectionHookEvent[] = [];

before(async () => {
  cp = await startControlPlane();
  apis = await Promise.all([1, 2, 3].map(() => startApi(cp, 'v1', TTL)));
  everyone.push(...apis);
  mesh = await createMesh({
    ...(await cp.meshOptions('client')),
    hooks: { onRetry: (e) => retries.push(e), onEjection: (e) => ejections.push(e) },
  });
});

after(async () => {
  await mesh?.close();
  await Promise.all(everyone.map((a) => a.child.kill('SIGKILL')));
  await cp?.stop();
});

it('SIGKILL and restart all three instances one by one under 150 GET/s: 0 failed requests', { timeout: 120_000 }, async () => {
  await waitUntil(() => mesh.endpoints('api').length === 3, 10_000, 20).catch(() => {});
  await openLoop(mesh, 'http://api/', { rate: 100, total: 30 });
  let done = false;
  const load = openLoop(mesh, 'http://api/', { rate: 150, total: 9_000, stopWhen: () => done });
  const rounds: string[] = [];
  const original = apis.map((a) => a.id);
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const victim = apis[i]!;
    await victim.child.kill('SIGKILL');
    const fresh = await startApi(cp, 'v2', TTL);
    everyone.push(fresh);
    apis[i] = fresh;
    // Ready when the mesh sees the replacement and has dropped the dead one (lease expiry).
    await waitUntil(
      () => {
        const ids = mesh.endpoints('api').map((e) => e.id);
        return ids.includes(fresh.id) && !ids.includes(victim.id);
      },
      20_000,
      20,
    );
    rounds.push(`${victim.id} -> ${fresh.id} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  // A last stretch on the new generation alone.
  await new Promise((r) => setTimeout(r, 1_000));
  done = true;
  const outcomes = await load;
  const s = summary(outcomes);
  const answeredBy = new Set(outcomes.filter((o) => o.ok).map((o) => (JSON.parse(o.body!) as { instance: string }).instance));
  console.log(
    `# restart all: ${s.total} GETs at 150/s, ${s.failed} failed ${JSON.stringify(s.errors)}; ` +
      `${retries.filter((r) => r.decision === 'retry').length} retries (${retries.filter((r) => r.decision !== 'retry').length} given up), ` +
      `${ejections.length} ejections; rounds: ${rounds.join('; ')}; p99 ${pct(
        outcomes.map((o) => o.ms),
        99,
      ).toFixed(1)} ms`,
  );
  assert.deepEqual(s.errors, {});
  assert.ok(s.total > 600, `${s.total} requests`);
  assert.ok(
    original.some((id) => answeredBy.has(id)),
    'the old generation served',
  );
  assert.ok(
    apis.every((a) => answeredBy.has(a.id)),
    'every replacement served',
  );
  assert.ok(
    retries.some((r) => r.decision === 'retry'),
    'the kills were felt (and hidden by retries)',
  );
});
