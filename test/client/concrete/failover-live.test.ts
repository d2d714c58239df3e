/**
 * Failover across clusters with real processes on loopback (issue 17): one
 * control plane, a client, two local `api` instances and three "imported"
 * ones (cluster dc2). Until peering imports them, the imported instances
 * register with the same control plane and a test seam gives them their
 * cluster from a label (helpers/cluster-tag-resolver.ts); the lead's peered
 * end-to-end test replaces that seam.
 *
 * Under a bounded stream of GETs, SIGKILL every local instance: no call fails
 * (each attempt that meets a dead local instance is retried in dc2, and
 * outlier detection soon takes the dead ones out of the picks); start local
 * instances again: calls go home. A route backend pinned to dc2 sends there
 * whatever the health of home.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../../src/index.js';
import type { RetryHookEvent } from '../../../src/resilience/hooks.js';
import { ClusterTagResolver } from '../../helpers/cluster-tag-resolver.js';
import { startControlPlane, type RunningControlPlane } from '../../helpers/control-plane.js';
import { startApi, waitUntil, type RunningService } from '../../helpers/services.js';
import { apply, ask, countBy, routeDoc, serviceDoc, type ApiAnswer } from '../../scenarios/traffic-helpers.js';

const CLUSTER_LABEL = 'test-cluster';
/** Ceiling of the stream that runs while instances die and come back: it stops on events well before. */
const STREAM_MAX_CALLS = 20_000;
const STREAM_MAX_MS = 60_000;

let cp: RunningControlPlane;
let local: RunningService[] = [];
let dc2: RunningService[] = [];
let mesh: Mesh;
let resolver: ClusterTagResolver;
const retries: RetryHookEvent[] = [];
/** performance.now() of each retry event, for how long after the kill attempts still met a dead instance. */
const retriedAt: number[] = [];
let ejections = 0;
const clusterOf = new Map<string, string>();

before(async () => {
  // A short lease: SIGKILLed instances leave discovery within seconds, so "home" is whole again once restarted.
  cp = await startControlPlane({ insecure: true, ttlSeconds: 3 });
  await apply(
    cp.url,
    serviceDoc('api', {
      failover: [{ cluster: 'dc2' }],
      loadBalancer: 'round_robin',
      // Every dead local instance may be ejected (the default 10 % keeps all but one in the picks until the
      // lease expires); 2 of 5 out is 60 % healthy, above the default panic threshold.
      outlierDetection: { maxEjectionPercent: 100 },
    }),
    routeDoc('api-dc2', [{ matches: [{ headers: [{ name: 'x-cluster', value: 'dc2' }] }], backendRefs: [{ name: 'api', cluster: 'dc2' }] }]),
  );
  [local, dc2] = await Promise.all([Promise.all([startApi(cp), startApi(cp)]), Promise.all([1, 2, 3].map(() => startApi(cp, 'v1', { HYPHAE_LABELS: `${CLUSTER_LABEL}=dc2` })))]);
  for (const a of local) clusterOf.set(a.id, 'local');
  for (const a of dc2) clusterOf.set(a.id, 'dc2');
  resolver = ClusterTagResolver.overControlPlane(cp.url, CLUSTER_LABEL);
  mesh = await createMesh({
    resolver,
    hooks: {
      onRetry: (e) => {
        retries.push(e);
        retriedAt.push(performance.now());
      },
      onEjection: () => void ejections++,
    },
  });
});

after(async () => {
  await mesh?.close();
  await Promise.all([...local, ...dc2].map((a) => a.child.kill('SIGKILL')));
  await cp?.stop();
});

const byCluster = (answers: ApiAnswer[]) => countBy(answers, (a) => (a.status === 200 ? (clusterOf.get(a.instance!) ?? `unknown ${a.instance}`) : `failed: ${a.error ?? a.status}`));

async function run(n: number, headers: Record<string, string> = {}): Promise<ApiAnswer[]> {
  const out: ApiAnswer[] = [];
  for (let i = 0; i < n; i++) out.push(await ask(mesh, '/', headers));
  return out;
}

it('kills every local instance under a stream of GETs: 0 failed calls, traffic in dc2, then home again', { timeout: 180_000 }, async () => {
  await ask(mesh, '/');
  await waitUntil(() => mesh.endpoints('api').length === 5, 10_000);

  const home = await run(200);
  const pinned = await run(50, { 'x-cluster': 'dc2' });
  console.log('before:', byCluster(home), 'route backend cluster dc2:', byCluster(pinned));
  assert.deepEqual(byCluster(home), { local: 200 });
  assert.deepEqual(byCluster(pinned), { dc2: 50 });

  // Two callers in a loop, bounded in count and time; they stop when the test has seen what it waits for.
  const stream: ApiAnswer[] = [];
  let stop = false;
  const t0 = performance.now();
  const worker = async () => {
    while (!stop && stream.length < STREAM_MAX_CALLS && performance.now() - t0 < STREAM_MAX_MS) stream.push(await ask(mesh, '/'));
  };
  const workers = Promise.all([worker(), worker()]);
  await waitUntil(() => stream.length >= 100, 10_000);

  // Kill home without warning: no deregistration, the instances stay in discovery until their lease ends.
  const killedAt = stream.length;
  const tKill = performance.now();
  await Promise.all(local.map((a) => a.child.kill('SIGKILL')));
  // Traffic has moved once 200 answers in a row come from dc2 (each first attempt on a dead instance retried there).
  const inDc2 = () => stream.length - killedAt >= 200 && stream.slice(-200).every((a) => clusterOf.get(a.instance ?? '') === 'dc2');
  await waitUntil(inDc2, 30_000);
  const retriesAtMove = retries.length;
  const lastDeadMs = Math.max(...retriedAt) - tKill;
  // The dead instances leave discovery when their lease ends.
  await waitUntil(() => mesh.endpoints('api').length === 3, 30_000);
  const away = stream.length;

  // Home comes back: new local instances (new ports) register; the stream finds them.
  const back = await Promise.all([startApi(cp), startApi(cp)]);
  local = back;
  for (const a of back) clusterOf.set(a.id, 'local');
  const tBack = performance.now();
  await waitUntil(() => stream.slice(away).filter((a) => clusterOf.get(a.instance ?? '') === 'local').length >= 50, 30_000);
  const homeMs = performance.now() - tBack;
  stop = true;
  await workers;

  const during = stream.slice(killedAt, away);
  const returning = stream.slice(away);
  console.log(
    `stream: ${stream.length} calls; before the kill ${JSON.stringify(byCluster(stream.slice(0, killedAt)))}; ` +
      `after the kill ${JSON.stringify(byCluster(during))} (the last attempt on a dead instance ${lastDeadMs.toFixed(0)} ms after it; ${retriesAtMove} retries, ${ejections} ejections); ` +
      `after the restart ${JSON.stringify(byCluster(returning))} (50 calls home ${homeMs.toFixed(0)} ms after both instances printed ready)`,
  );
  const failed = stream.filter((a) => a.status !== 200);
  assert.deepEqual(failed, [], `no call of the stream failed; retry decisions: ${JSON.stringify(retries.map((r) => [r.endpoint, r.attempt, r.condition, r.decision]))}`);
  assert.ok(
    retries.every((r) => r.decision === 'retry'),
    `every failed attempt was retried: ${JSON.stringify(retries.filter((r) => r.decision !== 'retry'))}`,
  );
  assert.ok(retriesAtMove > 0, 'the dead instances were met (and retried in dc2), so the stream did run through the kill');
  assert.ok(
    retries.every((r) => clusterOf.get(r.endpoint ?? '') === 'local'),
    'only the dead local instances failed attempts',
  );

  const settled = await run(200);
  console.log('after:', byCluster(settled));
  assert.deepEqual(byCluster(settled), { local: 200 }, 'home is whole again: every call stays local');
  assert.deepEqual(byCluster(await run(50, { 'x-cluster': 'dc2' })), { dc2: 50 }, 'the pinned backend still goes to dc2');
});
