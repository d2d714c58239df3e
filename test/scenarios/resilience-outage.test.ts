/**
 * Must-show 3: a total outage of a destination. Retries must not multiply the
 * load on it (a retry storm): the retry budget keeps attempts / requests at
 * most 1.2 plus the floor (10 retries/s over the 10 s window: 100), and the
 * caller gets the original answer or error at once, never a budget error and
 * never after waiting for a timeout.
 *
 * Two outages, each on its own destination (each has its own budget):
 * A. every instance of `flaky` (examples/chain) answers 503: attempts are
 *    counted by the instances themselves, independently of the client;
 * B. every instance of `api` (examples/api) is SIGKILLed: connections are
 *    refused; attempts counted by the client's retry hook.
 * Both with a request timeout of 30 s, to show the failures do not wait for it (far above what a starved
 * machine adds: with ~30 runnable processes on 2 cores the slowest 503 took 3.1 s).
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh, type RetryHookEvent } from '../../src/index.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { startApi, waitUntil, type RunningService } from '../helpers/services.js';
import { apply, serviceDoc } from './traffic-helpers.js';
import { chainStats, openLoop, pct, startChain, summary, type ChainService } from './resilience-helpers.js';

const RATE = 300;
const TOTAL = 1_500; // 5 s: inside one budget window
const FLOOR = 10 * 10; // minPerSecond x window (s)
/**
 * The floor is a reserve of 100 retries per 10 s window (retry-budget.ts: allowed = 20 % of the window's
 * requests + minPerSecond x window). The window slides in 1 s buckets, so the reserve spent at the start
 * is free again once its bucket leaves the window: a run that lasts `seconds` can spend it once per 10 s
 * window it overlaps, counting one bucket of misalignment: ceil((seconds + 1) / 10) times. At 300/s the
 * 5 s of requests fit one window (FLOOR); a busy machine that stretches them past 9 s may spend it twice.
 */
const floorFor = (seconds: number) => FLOOR * Math.ceil((seconds + 1) / 10);
let cp: RunningControlPlane;
let flaky: ChainService[] = [];
let apis: RunningService[] = [];
let mesh: Mesh;
const retries: RetryHookEvent[] = [];

before(async () => {
  cp = await startControlPlane();
  [flaky, apis] = await Promise.all([Promise.all([1, 2, 3].map(() => startChain(cp, 'flaky'))), Promise.all([1, 2, 3].map(() => startApi(cp, 'v1', { HYPHAE_TTL_SECONDS: '60' })))]);
  await apply(cp.url, serviceDoc('flaky', { timeouts: { request: '30s' } }), serviceDoc('api', { timeouts: { request: '30s' } }));
  mesh = await createMesh({ ...(await cp.meshOptions('client')), hooks: { onRetry: (e) => retries.push(e) } });
});

after(async () => {
  await mesh?.close();
  await Promise.all([...flaky.map((f) => f.child.kill('SIGKILL')), ...apis.map((a) => a.child.kill('SIGKILL'))]);
  await cp?.stop();
});

it('every instance answers 503: attempts / requests <= 1.2 + floor (counted by the instances); the caller gets the 503 at once', { timeout: 180_000 }, async () => {
  await waitUntil(async () => (await mesh.request('http://flaky/status/200')).statusCode === 200 && mesh.endpoints('flaky').length === 3, 10_000, 50);
  const before = await Promise.all(flaky.map(chainStats));
  const t0 = performance.now();
  const outcomes = await openLoop(mesh, 'http://flaky/status/503', { rate: RATE, total: TOTAL });
  const floor = floorFor((performance.now() - t0) / 1000);
  const afterStats = await Promise.all(flaky.map(chainStats));
  const attempts = afterStats.reduce((n, s, i) => n + s.requests - before[i]!.requests, 0);
  const s = summary(outcomes);
  const ms = outcomes.map((o) => o.ms);
  const ratio = attempts / TOTAL;
  console.log(
    `# outage A (all answer 503): ${TOTAL} requests at ${RATE}/s -> ${attempts} attempts at the instances = ${ratio.toFixed(3)} per request ` +
      `(bound ${(1.2 + floor / TOTAL).toFixed(3)} = 1.2 + ${floor}/${TOTAL}); caller saw ${JSON.stringify(s.errors)}; ` +
      `${retries.filter((r) => r.destination === 'flaky' && r.decision === 'budget-exhausted').length} retries refused by the budget; ` +
      `latency p50 ${pct(ms, 50).toFixed(1)} ms, p99 ${pct(ms, 99).toFixed(1)} ms, max ${Math.max(...ms).toFixed(0)} ms (request timeout 30000 ms)`,
  );
  assert.deepEqual(s.errors, { 'status 503': TOTAL }, 'every caller got the original 503');
  assert.ok(attempts <= 1.2 * TOTAL + floor, `${attempts} attempts for ${TOTAL} requests`);
  assert.ok(attempts > TOTAL, 'some requests were retried (the budget was used, not just refused)');
  assert.ok(
    retries.some((r) => r.destination === 'flaky' && r.decision === 'budget-exhausted'),
    'the budget ran out and said so',
  );
  assert.ok(Math.max(...ms) < 30_000 / 4, 'no caller waited anywhere near the request timeout');
});

it('every instance SIGKILLed: attempts / requests <= 1.2 + floor; the caller fails at once with the connect error', { timeout: 180_000 }, async () => {
  await waitUntil(async () => (await mesh.request('http://api/')).statusCode === 200 && mesh.endpoints('api').length === 3, 10_000, 50);
  await Promise.all(apis.map((a) => a.child.kill('SIGKILL')));
  const before = retries.filter((r) => r.destination === 'api').length;
  const t0 = performance.now();
  const outcomes = await openLoop(mesh, 'http://api/', { rate: RATE, total: TOTAL });
  const floor = floorFor((performance.now() - t0) / 1000);
  const events = retries.filter((r) => r.destination === 'api').slice(before);
  const retried = events.filter((r) => r.decision === 'retry').length;
  const attempts = TOTAL + retried;
  const s = summary(outcomes);
  const ms = outcomes.map((o) => o.ms);
  console.log(
    `# outage B (all killed): ${TOTAL} requests at ${RATE}/s -> ${attempts} attempts = ${(attempts / TOTAL).toFixed(3)} per request ` +
      `(bound ${(1.2 + floor / TOTAL).toFixed(3)}); caller saw ${JSON.stringify(s.errors)}; ` +
      `${events.filter((r) => r.decision === 'budget-exhausted').length} retries refused by the budget; ` +
      `latency p50 ${pct(ms, 50).toFixed(1)} ms, p99 ${pct(ms, 99).toFixed(1)} ms, max ${Math.max(...ms).toFixed(0)} ms`,
  );
  assert.deepEqual(s.errors, { HYPHAE_ERR_CONNECT_FAILED: TOTAL }, 'every caller got the connect failure itself');
  assert.ok(attempts <= 1.2 * TOTAL + floor, `${attempts} attempts for ${TOTAL} requests`);
  assert.ok(
    events.some((r) => r.decision === 'budget-exhausted'),
    'the budget ran out',
  );
  assert.ok(Math.max(...ms) < 30_000 / 4, 'no caller waited anywhere near the request timeout');
});
