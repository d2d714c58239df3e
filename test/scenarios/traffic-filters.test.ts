/**
 * Must-show 3 and 4 of issue 4: mirroring sends the configured share of
 * copies to the mirror subset, and a failing or slow mirror changes nothing
 * for the caller; fault injection aborts 50 % with 503 (+-5 % over 1,000
 * requests) and applies an injected delay. Real control plane, an api v1
 * instance, and a mirror instance built with the library in this process (so
 * the test can count what it receives and make it slow or failing).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { percentile, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { startApi, type RunningService } from '../helpers/services.js';
import { apply, ask, percent, routeDoc, serviceDoc, type ApiAnswer } from './traffic-helpers.js';

/** How long the slow mirror takes to answer: a caller held by its mirror would wait this long. */
const MIRROR_DELAY_MS = 2000;

const SUBSETS = [
  { name: 'v1', labels: { version: 'v1' } },
  { name: 'shadow', labels: { version: 'shadow' } },
];

describe('mirroring and fault injection (real control plane, api v1 and a shadow instance)', () => {
  let cp: RunningControlPlane;
  let api: RunningService;
  let caller: Mesh;
  let shadowMesh: Mesh;
  let shadow: http.Server;
  const mirror = { hits: 0, mode: 'ok' as 'ok' | 'slow' | 'error' | 'reset' };

  before(async () => {
    cp = await startControlPlane();
    api = await startApi(cp, 'v1');
    shadowMesh = await createMesh({ ...(await cp.meshOptions('api')), labels: { version: 'shadow' }, server: { drainDelayMs: 0, gracePeriodMs: 1000 } });
    shadow = shadowMesh.wrapServer(
      http.createServer((req, res) => {
        mirror.hits++;
        req.resume();
        if (mirror.mode === 'reset') return void req.socket.destroy();
        if (mirror.mode === 'error') return void res.writeHead(500).end('shadow broken');
        if (mirror.mode === 'slow') return void setTimeout(() => res.end('late'), MIRROR_DELAY_MS);
        res.end(JSON.stringify({ version: 'shadow' }));
      }),
    );
    shadow.listen(0, '127.0.0.1');
    await shadowMesh.registered(shadow);
    await apply(cp.url, serviceDoc('api', { subsets: SUBSETS }));
    caller = await createMesh(await cp.meshOptions('client'));
  });

  after(async () => {
    await caller?.close();
    await shadowMesh?.close();
    await api?.child.kill();
    await cp?.stop();
  });

  const mirrorRoute = (percentage: number) =>
    routeDoc('mirror', [
      {
        name: 'main',
        filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'api', subset: 'shadow' }, percent: percentage } }],
        backendRefs: [{ name: 'api', subset: 'v1' }],
      },
    ]);

  async function run(n: number, path = '/items'): Promise<ApiAnswer[]> {
    const out: ApiAnswer[] = [];
    for (let i = 0; i < n; i++) out.push(await ask(caller, path));
    return out;
  }

  it('sends the configured share of copies to the mirror subset, and every answer comes from v1', async () => {
    await apply(cp.url, mirrorRoute(30));
    await run(20); // the first calls open the watch and pick up the route
    await new Promise((r) => setTimeout(r, 200));
    mirror.hits = 0;
    const answers = await run(1000);
    await waitFor(() => mirror.hits >= 240, 3000).catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    console.log(`mirror at 30 %: ${mirror.hits} copies for ${answers.length} requests (${percent(mirror.hits, answers.length)})`);
    assert.ok(
      answers.every((a) => a.status === 200 && a.version === 'v1'),
      'the caller only ever sees v1',
    );
    // 1,000 draws at 30 %: sd 1.45 %, so +-4.5 % is 3 sd.
    assert.ok(Math.abs(mirror.hits / answers.length - 0.3) <= 0.045, `mirror got ${mirror.hits}`);
  });

  it('a slow, failing or resetting mirror changes nothing for the caller (status and latency)', async () => {
    await apply(cp.url, mirrorRoute(0));
    // The 0 % route has reached the caller once a run of calls sends no copy (the previous test's 30 % sends ~15).
    await waitFor(async () => {
      const hits = mirror.hits;
      await run(50);
      return mirror.hits === hits;
    }, 30_000);
    const baseline = await run(300);
    await apply(cp.url, mirrorRoute(100));
    // The 100 % route has reached the caller once a copy arrives.
    mirror.hits = 0;
    await waitFor(async () => {
      await run(1);
      return mirror.hits > 0;
    }, 30_000);
    const rows: string[] = [];
    const p = (xs: ApiAnswer[], q: number) =>
      percentile(
        xs.map((a) => a.doneAt - a.sentAt),
        q,
      );
    rows.push(`no mirror: p50 ${p(baseline, 50).toFixed(2)} ms, p99 ${p(baseline, 99).toFixed(2)} ms`);
    // Slow last: its copies hold the 64 mirror slots for 2 s, and copies beyond them are dropped.
    for (const mode of ['error', 'reset', 'slow'] as const) {
      mirror.mode = mode;
      mirror.hits = 0;
      const answers = await run(300);
      const bad = answers.filter((a) => a.status !== 200 || a.version !== 'v1');
      rows.push(`${mode} mirror (${mirror.hits} copies received): p50 ${p(answers, 50).toFixed(2)} ms, p99 ${p(answers, 99).toFixed(2)} ms, ${bad.length} failed`);
      assert.deepEqual(bad, [], `${mode}: the caller saw failures`);
      assert.ok(mirror.hits > 0, `${mode}: copies were sent`);
      // No-stall ceilings (a busy 2-core machine adds tens of ms to any call, so the figures against the
      // baseline are printed, not asserted): a mirror that held the caller would add its full 2 s to every call
      // (slow) or fail it (error, reset); none may come near the slow mirror's delay.
      assert.ok(p(answers, 50) < MIRROR_DELAY_MS / 2, `${mode}: p50 ${p(answers, 50)} ms (no mirror: ${p(baseline, 50)} ms)`);
      assert.ok(p(answers, 99) < MIRROR_DELAY_MS * 0.75, `${mode}: p99 ${p(answers, 99)} ms (no mirror: ${p(baseline, 99)} ms)`);
    }
    mirror.mode = 'ok';
    console.log(rows.join('\n'));
  });

  it('a 50 % abort answers 503 to 50 % +-5 % of 1,000 requests; a delay is applied', async () => {
    await apply(
      cp.url,
      routeDoc('mirror', [
        {
          name: 'abort',
          matches: [{ path: { type: 'PathPrefix', value: '/abort' } }],
          filters: [{ type: 'Fault', fault: { abort: { percent: 50, httpStatus: 503 } } }],
          backendRefs: [{ name: 'api', subset: 'v1' }],
        },
        {
          name: 'delay',
          matches: [{ path: { type: 'PathPrefix', value: '/delay' } }],
          filters: [{ type: 'Fault', fault: { delay: { percent: 100, fixedDelay: '200ms' } } }],
          backendRefs: [{ name: 'api', subset: 'v1' }],
        },
        { name: 'plain', backendRefs: [{ name: 'api', subset: 'v1' }] },
      ]),
    );
    // The route has reached this client once /delay is delayed.
    await waitFor(async () => {
      const a = await ask(caller, '/delay');
      return a.doneAt - a.sentAt >= 190;
    }, 5000);
    const answers = await run(1000, '/abort');
    const aborted = answers.filter((a) => a.status === 503).length;
    const others = answers.filter((a) => a.status !== 503 && !(a.status === 200 && a.version === 'v1'));
    console.log(`50 % abort: ${aborted} of ${answers.length} answered 503 (${percent(aborted, answers.length)})`);
    assert.deepEqual(others, []);
    assert.ok(Math.abs(aborted / answers.length - 0.5) <= 0.05, `aborted ${aborted}`);

    const delayed = await run(10, '/delay');
    const plain = await run(10, '/plain');
    const ms = (xs: ApiAnswer[]) => xs.map((a) => a.doneAt - a.sentAt);
    console.log(`200 ms delay: min ${Math.min(...ms(delayed)).toFixed(1)} ms, median ${percentile(ms(delayed), 50).toFixed(1)} ms; without: median ${percentile(ms(plain), 50).toFixed(1)} ms`);
    assert.ok(delayed.every((a) => a.status === 200));
    // Timers may fire a millisecond early against performance.now().
    assert.ok(Math.min(...ms(delayed)) >= 195, 'every delayed request took about 200 ms or more');
    assert.ok(percentile(ms(plain), 50) < 100);
  });
});

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
