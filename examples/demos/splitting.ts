/**
 * `npm run demo -- splitting`: api runs v1 (two instances) and v2 (one); a
 * Route applied with `hyphae apply` splits api's calls between the two subsets
 * by weight, and the weights change live — 100/0, 90/10, 50/50, 0/100 — while
 * this process counts which version answered each call.
 */
import type { Mesh } from 'hyphae';
import { runDemo, type DemoOptions } from '../lib/demo-session.js';
import { percent, tally, waitForStreak, waitUntil } from '../lib/demo-traffic.js';

/** Enough calls for a share to mean something (10 % of 1000 has a standard deviation under 1 point), a few seconds of traffic. */
const SPLIT_CALLS = 1000;
const WHOLE_CALLS = 200;

async function version(client: Mesh, signal?: AbortSignal): Promise<string | undefined> {
  const res = await client.request('http://api/items', signal ? { signal } : {});
  const body = (await res.body.json()) as { version?: string };
  return res.statusCode === 200 ? body.version : undefined;
}

export function run(options: DemoOptions): Promise<number> {
  return runDemo('hyphae demo splitting: a weighted split between api v1 and v2, changed live with hyphae apply', options, async ({ mesh, log, client, apply }) => {
    const started = await Promise.all([mesh.startExampleService('api', { VERSION: 'v1' }), mesh.startExampleService('api', { VERSION: 'v1' }), mesh.startExampleService('api', { VERSION: 'v2' })]);
    log(`  api             ${started.map((s, i) => `${s.id} (${i < 2 ? 'v1' : 'v2'})`).join(', ')}`);
    const demo = await client();
    log('');

    const count = async (weights: string, calls: number) => {
      const t = await tally(calls, 8, (signal) => version(demo, signal));
      log(
        `  weights ${weights.padEnd(6)} v1 ${String(t.of('v1')).padStart(4)}, v2 ${String(t.of('v2')).padStart(4)} of ${t.total} (${t.failed} failed): v2 got ${percent(t.of('v2'), t.total)} of ${t.total} requests`,
      );
      return t;
    };

    await apply('examples/demos/splitting/1-all-v1.yaml', 'subsets v1 and v2 by the version label; weights 100/0');
    await waitForStreak('every call goes to v1', async () => (await version(demo)) === 'v1');
    const allV1 = await count('100/0', WHOLE_CALLS);
    log('');
    await apply('examples/demos/splitting/2-canary-10.yaml', 'a canary: weights 90/10');
    // The first call v2 answers says the new weights reached this process (v2 had none before).
    await waitUntil('v2 answers a call', async () => (await version(demo)) === 'v2', { intervalMs: 0 });
    const canary = await count('90/10', SPLIT_CALLS);
    log('');
    await apply('examples/demos/splitting/3-half.yaml', 'weights 50/50');
    // Nothing tells this change apart at once: counting starts when the apply returns, and the control plane's
    // push arrives within milliseconds, so at most the few calls in flight then went by the old weights.
    const half = await count('50/50', SPLIT_CALLS);
    log('');
    await apply('examples/demos/splitting/4-all-v2.yaml', 'promote v2: weights 0/100');
    await waitForStreak('every call goes to v2', async () => (await version(demo)) === 'v2');
    const allV2 = await count('0/100', WHOLE_CALLS);

    const share = (t: typeof half) => t.of('v2') / t.total;
    // Bands many standard deviations wide: a share far outside them is a broken split, not bad luck.
    const ok = allV1.of('v1') === allV1.total && allV2.of('v2') === allV2.total && share(canary) > 0.05 && share(canary) < 0.16 && share(half) > 0.4 && share(half) < 0.6;
    return {
      ok,
      summary: ok ? 'v2 got none, then about 10 %, then about half, then all of the calls, as the weights said' : 'a share was not what the weights say',
      keepCalling: [{ url: 'http://api/items' }],
    };
  });
}
