/**
 * Must-show 4: a 3-hop chain a -> b -> c where c hangs, with a 200 ms budget
 * at a. The budget travels (`x-hyphae-deadline-ms`) and shrinks at each hop:
 * a answers in about 200 ms — not after the per-hop timeouts (3 s each here,
 * which is what a call without a budget waits, shown for contrast) — and b's
 * call to c is cancelled: c sees its request aborted at about 200 ms.
 *
 * a, b, c are examples/chain processes (mTLS, STRICT); this process calls a.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { apply, serviceDoc } from './traffic-helpers.js';
import { chainStats, sleep, startChain, type ChainService } from './resilience-helpers.js';

let cp: RunningControlPlane;
let a: ChainService;
let b: ChainService;
let c: ChainService;
let mesh: Mesh;

before(async () => {
  cp = await startControlPlane();
  [a, b, c] = await Promise.all([startChain(cp, 'a', { NEXT: 'b' }), startChain(cp, 'b', { NEXT: 'c' }), startChain(cp, 'c', { HANG: '1' })]);
  // The calls a -> b and b -> c have a 3 s timeout each: what a call without a budget waits at every hop. They are
  // far above the 200 ms budget so that a starved process (two CPU hogs on 2 cores once stretched one run to
  // 842 ms) cannot be mistaken for a budget that was not passed on.
  // This process's calls to a have neither a timeout nor retries: the test sends the budget itself and
  // measures a's own answer, once (a retried 504 would double the time, and measure the caller's policy).
  await apply(cp.url, ...['b', 'c'].map((s) => serviceDoc(s, { timeouts: { request: '3s' } })), serviceDoc('a', { retries: { attempts: 1 } }));
  mesh = await createMesh(await cp.meshOptions('client'));
});

after(async () => {
  await mesh?.close();
  await Promise.all([a, b, c].map((s) => s?.child.kill('SIGKILL')));
  await cp?.stop();
});

/** Call a with `headers`; its status, body and how long it took. */
async function callA(path: string, headers: Record<string, string>): Promise<{ status: number; body: { error?: string }; ms: number }> {
  const t0 = performance.now();
  const res = await mesh.request(`http://a${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  const body = (await res.body.json()) as { error?: string };
  return { status: res.statusCode, body, ms: performance.now() - t0 };
}

/**
 * What became of the call for `path` at `svc`, which hangs every request it gets: once nothing is in flight
 * there, each request it received was cancelled by its caller (its `aborted path=<path> after=<ms>` line
 * comes out on stdout before the stats line that shows it). The time c saw the cancellation, or undefined
 * when b's call was cancelled before it reached c (on a starved machine b's new mTLS connection to c — the
 * cancelled call before took the old one down — may not finish its handshake inside the budget).
 */
async function outcomeAt(svc: ChainService, path: string, requestsBefore: number): Promise<number | undefined> {
  // A ceiling against a stall only.
  const until = performance.now() + 30_000;
  for (;;) {
    const stats = await chainStats(svc);
    if (stats.inflight === 0) {
      const line = svc.child.lines.map((l) => /^aborted path=(\S+) after=([\d.]+)/.exec(l)).find((m) => m?.[1] === path);
      if (line) return Number(line[2]);
      assert.equal(stats.requests, requestsBefore, `${svc.id} got ${path} and printed no abort for it`);
      return undefined;
    }
    if (performance.now() > until) throw new Error(`${svc.id} still has ${stats.inflight} requests in flight:\n${svc.child.lines.slice(-20).join('\n')}`);
    await sleep(20);
  }
}

it('c hangs, 200 ms budget at a: a answers 504 in about 200 ms and c sees b’s call cancelled', { timeout: 120_000 }, async () => {
  // Warm the chain's connections and discovery with a request that does not hang at c.
  await callA('/warm', {}).catch(() => {});
  const results: { ms: number; cMs: number | undefined }[] = [];
  for (let i = 0; i < 5; i++) {
    // The caller's budget, as a mesh caller with a 200 ms timeout would send it.
    const before = (await chainStats(c)).requests;
    const r = await callA(`/run-${i}`, { 'x-hyphae-deadline-ms': '200' });
    assert.equal(r.status, 504, JSON.stringify(r.body));
    assert.equal(r.body.error, 'HYPHAE_ERR_DEADLINE_EXCEEDED');
    results.push({ ms: r.ms, cMs: await outcomeAt(c, `/run-${i}`, before) });
  }
  // Contrast: the same chain without a budget waits for the per-hop timeouts (3 s).
  // On a starved machine b's own 3 s timeout can end the call before it reaches c at all: then the contrast
  // says nothing about c, and it is run again (at most three times) until c holds one.
  let unbudgeted: Awaited<ReturnType<typeof callA>> | undefined;
  let unbudgetedC: number | undefined;
  for (let i = 0; i < 3 && unbudgetedC === undefined; i++) {
    const contrastBefore = (await chainStats(c)).requests;
    unbudgeted = await callA(`/contrast-${i}`, {});
    unbudgetedC = await outcomeAt(c, `/contrast-${i}`, contrastBefore);
  }
  if (unbudgeted === undefined) throw new Error('the contrast ran no call');
  const fmt = (xs: (number | undefined)[]) => xs.map((x) => (x === undefined ? 'never reached c' : x.toFixed(0))).join('/');
  console.log(
    `# 3 hops, c hangs, 200 ms budget at a (5 runs): a answered 504 after ${fmt(results.map((r) => r.ms))} ms; ` +
      `b's call cancelled at c after ${fmt(results.map((r) => r.cMs))} ms. ` +
      `Without a budget (per-hop timeouts 3 s): a answered ${unbudgeted.status} after ${unbudgeted.ms.toFixed(0)} ms, c cancelled after ${fmt([unbudgetedC])} ms`,
  );
  // Each run: far below the 3 s per-hop timeouts (what a budget that was not passed on would show), so a
  // starved run cannot pass for one; the typical run (the median) is about 200 ms, plus up to ~300 ms that a
  // busy 2-core machine adds across three processes. Nothing is left hanging at c (outcomeAt).
  const reachedC = results.flatMap((r) => (r.cMs === undefined ? [] : [r.cMs]));
  for (const r of results) assert.ok(r.ms >= 190 && r.ms < 1_500, `a answered after ${r.ms.toFixed(0)} ms (about 200, far from the 3 s per-hop timeouts)`);
  for (const ms of reachedC) assert.ok(ms < 1_500, `c's request was cancelled after ${ms.toFixed(0)} ms (far from the 3 s per-hop timeout)`);
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  assert.ok(median(results.map((r) => r.ms)) < 500, `a answered in a median ${median(results.map((r) => r.ms)).toFixed(0)} ms, about the 200 ms budget`);
  assert.ok(reachedC.length >= 1, 'at least one budgeted call reached c and was cancelled there');
  assert.ok(median(reachedC) < 600, `c's requests were cancelled in a median ${median(reachedC).toFixed(0)} ms`);
  assert.ok(unbudgetedC !== undefined && unbudgetedC >= 2_000, 'without a budget, c held the call until the per-hop timeout');
  assert.ok(unbudgeted.ms >= 2_900, 'without a budget, the per-hop timeout is what ends the wait');
});
