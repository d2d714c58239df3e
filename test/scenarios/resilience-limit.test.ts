/**
 * Must-show 5: a concurrency limit with a backend that never answers. With
 * `limits: { maxConcurrent: 8, maxPending: 4 }`, exactly 8 calls reach the
 * backend (counted by the backend), 4 wait, and every other call fails at once
 * with HYPHAE_ERR_CONCURRENCY_LIMIT instead of queueing. Memory stays flat:
 * this process's heap after a GC is the same before and after a burst of
 * 20,000 more calls against the full limit, and its RSS (which rises towards
 * V8's heap reservation for that allocation rate, then levels off) stays far
 * below what keeping anything per call would cost.
 *
 * `slow` is examples/chain with HANG=1 (mTLS); this process is the client.
 */
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import { after, before, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createMesh, type Mesh } from '../../src/index.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/services.js';
import { apply, serviceDoc } from './traffic-helpers.js';
import { chainStats, pct, sleep, startChain, type ChainService } from './resilience-helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const N = 8;
const PENDING = 4;
const BURST = 200;
const FLOOD = 20_000;
let cp: RunningControlPlane;
let slow: ChainService;
let mesh: Mesh;

before(async () => {
  cp = await startControlPlane();
  slow = await startChain(cp, 'slow', { HANG: '1' });
  await apply(cp.url, serviceDoc('slow', { limits: { maxConcurrent: N, maxPending: PENDING } }));
  mesh = await createMesh(await cp.meshOptions('client'));
});

after(async () => {
  await mesh?.close();
  await slow?.child.kill('SIGKILL');
  await cp?.stop();
});

interface Result {
  ok: boolean;
  code?: string;
  ms: number;
}

function fire(signal: AbortSignal): Promise<Result> {
  const t0 = performance.now();
  return mesh.request('http://slow/', { signal }).then(
    async (r) => {
      await r.body.dump();
      return { ok: true, ms: performance.now() - t0 };
    },
    (err: unknown) => {
      const code = (err as { code?: unknown }).code;
      return { ok: false, code: typeof code === 'string' ? code : (err as Error).name, ms: performance.now() - t0 };
    },
  );
}

function memory(): { heap: number; rss: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed / 2 ** 20, rss: m.rss / 2 ** 20 };
}

it(`limit ${N} (+${PENDING} pending), backend hangs: exactly ${N} in flight, the rest fail fast, memory flat`, { timeout: 90_000 }, async () => {
  // Discovery and config in place (the limit comes with the Service), then the burst.
  await waitUntil(() => mesh.endpoints('slow').length === 1, 10_000, 20).catch(() => {});
  const probe = new AbortController();
  const warm = fire(probe.signal);
  await waitUntil(async () => (await chainStats(slow)).inflight === 1, 10_000, 20);
  probe.abort();
  await warm;
  await waitUntil(async () => (await chainStats(slow)).inflight === 0, 10_000, 20);
  const base = await chainStats(slow);

  const held = new AbortController();
  // One signal for thousands of calls at once, on purpose (each call removes its listener when it ends).
  setMaxListeners(0, held.signal);
  const burst = Array.from({ length: BURST }, () => fire(held.signal));
  // Everything beyond the limit and the queue is refused before this turn of the event loop ends.
  const refused = await Promise.all(burst.slice(N + PENDING));
  await waitUntil(async () => (await chainStats(slow)).inflight === N, 10_000, 20);
  await sleep(300);
  const during = await chainStats(slow);

  // The flood: FLOOD more calls against the full limit, in waves of 1,000 (each wave fails at once). One wave
  // first, so that the allocator's high-water mark for a wave is reached before the baseline.
  await Promise.all(Array.from({ length: 1_000 }, () => fire(held.signal)));
  const m0 = memory();
  let mHalf = m0;
  let floodRefused = 0;
  const floodMs: number[] = [];
  for (let done = 0; done < FLOOD; done += 1_000) {
    const wave = await Promise.all(Array.from({ length: 1_000 }, () => fire(held.signal)));
    floodRefused += wave.filter((r) => r.code === 'HYPHAE_ERR_CONCURRENCY_LIMIT').length;
    floodMs.push(...wave.map((r) => r.ms));
    if (done + 1_000 === FLOOD / 2) mHalf = memory();
  }
  const m1 = memory();
  const stillInFlight = (await chainStats(slow)).inflight;

  // Let go: the held calls are cancelled, and the backend sees them go.
  held.abort();
  const first = await Promise.all(burst.slice(0, N + PENDING));
  await waitUntil(async () => (await chainStats(slow)).inflight === 0, 10_000, 20);
  const end = await chainStats(slow);

  const refusedMs = refused.map((r) => r.ms);
  console.log(
    `# limit ${N}+${PENDING}, backend hangs: ${BURST} calls -> backend saw ${during.requests - base.requests} arrive, ${during.inflight} in flight; ` +
      `${refused.filter((r) => r.code === 'HYPHAE_ERR_CONCURRENCY_LIMIT').length} refused in p50 ${pct(refusedMs, 50).toFixed(2)} ms / max ${Math.max(...refusedMs).toFixed(1)} ms; ` +
      `flood of ${FLOOD}: ${floodRefused} refused (p99 ${pct(floodMs, 99).toFixed(2)} ms), backend still at ${stillInFlight}; ` +
      `after GC: heap ${m0.heap.toFixed(1)} -> ${mHalf.heap.toFixed(1)} -> ${m1.heap.toFixed(1)} MiB, rss ${m0.rss.toFixed(0)} -> ${mHalf.rss.toFixed(0)} -> ${m1.rss.toFixed(0)} MiB (start, half, end); ` +
      `after letting go: ${end.aborted - base.aborted} cancelled at the backend, codes ${JSON.stringify(first.map((r) => r.code))}`,
  );
  assert.equal(during.requests - base.requests, N, `exactly ${N} reached the backend`);
  assert.equal(during.inflight, N);
  assert.ok(
    refused.every((r) => r.code === 'HYPHAE_ERR_CONCURRENCY_LIMIT'),
    JSON.stringify(refused.slice(0, 3)),
  );
  assert.equal(floodRefused, FLOOD);
  assert.equal(stillInFlight, N, 'the flood reached nothing');
  assert.ok(m1.heap - m0.heap < 2, `heap grew ${(m1.heap - m0.heap).toFixed(1)} MiB over ${FLOOD} refused calls`);
  // RSS rises towards V8's heap reservation for this allocation rate (pages it keeps after a GC) and levels off;
  // a call kept alive anywhere would show in the heap above. Bound: 2.5 KiB per refused call.
  assert.ok(((m1.rss - m0.rss) * 1024) / FLOOD < 2.5, `rss grew ${(m1.rss - m0.rss).toFixed(0)} MiB over ${FLOOD} calls`);
  assert.equal(end.aborted - base.aborted, N, `the ${N} calls in flight were cancelled at the backend`);
  assert.ok(
    first.every((r) => !r.ok && r.code !== 'HYPHAE_ERR_CONCURRENCY_LIMIT'),
    'the held and waiting calls ended with their abort',
  );
});
