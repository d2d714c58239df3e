/**
 * `npm run demo -- subsets`: api runs two v1 instances and one v2. A Service
 * applied with `hyphae apply` groups them into subsets by their `version`
 * label; a Route sends calls with `x-version: v2` to subset v2 and every other
 * call to v1, the default subset. Calls are counted per instance before and
 * after.
 */
import type { Mesh } from 'hyphae';
import { runDemo, type DemoOptions } from '../lib/demo-session.js';
import { tally, waitForStreak } from '../lib/demo-traffic.js';

const CALLS = 200;

async function answer(client: Mesh, headers: Record<string, string>, signal?: AbortSignal): Promise<string | undefined> {
  const res = await client.request('http://api/items', { headers, ...(signal ? { signal } : {}) });
  const body = (await res.body.json()) as { instance?: string; version?: string };
  return res.statusCode === 200 ? `${body.version} ${body.instance}` : undefined;
}

export function run(options: DemoOptions): Promise<number> {
  return runDemo("hyphae demo subsets: api's subsets by label, a default subset, a route to a subset", options, async ({ mesh, log, client, apply }) => {
    const versions = ['v1', 'v1', 'v2'];
    const started = await Promise.all(versions.map((v) => mesh.startExampleService('api', { VERSION: v })));
    const instances = started.map((s, i) => ({ id: s.id, version: versions[i]! }));
    for (const i of instances) log(`  api             ${i.id} version=${i.version}`);
    const demo = await client();
    log('');

    const measure = async (phase: string, label: string, headers: Record<string, string>) => {
      const t = await tally(CALLS, 4, (signal) => answer(demo, headers, signal));
      const byVersion = (v: string) => instances.filter((i) => i.version === v).reduce((n, i) => n + t.of(`${v} ${i.id}`), 0);
      const perInstance = instances.map((i) => `${i.id} ${t.of(`${i.version} ${i.id}`)}`).join(', ');
      log(`  ${phase.padEnd(7)} ${label.padEnd(20)} -> v1 ${byVersion('v1')}, v2 ${byVersion('v2')} of ${t.total} (${t.failed} failed)   per instance: ${perInstance}`);
      return { v1: byVersion('v1'), v2: byVersion('v2'), total: t.total, perInstance: instances.map((i) => t.of(`${i.version} ${i.id}`)) };
    };

    log(`before: no Service, no Route; ${CALLS} calls of each kind to http://api, counted by the version that answered`);
    await measure('before', 'GET /items', {});
    await measure('before', 'GET /items x-version', { 'x-version': 'v2' });
    log('');
    await apply('examples/demos/subsets/service.yaml', 'subsets v1 and v2 by the version label');
    await apply('examples/demos/subsets/route.yaml', 'x-version: v2 -> subset v2; every other call -> subset v1, the default subset');
    log('');
    log((await mesh.cli(['get', 'services', 'api'])).trimEnd());
    log('');
    // Both rules at once: the first 20 pairs of calls that all follow the route say it reached this process.
    let flip = false;
    await waitForStreak(
      'the route reached this process',
      async () => {
        flip = !flip;
        return (await answer(demo, flip ? { 'x-version': 'v2' } : {}))?.startsWith(flip ? 'v2 ' : 'v1 ') ?? false;
      },
      40,
    );
    const plain = await measure('after', 'GET /items', {});
    const header = await measure('after', 'GET /items x-version', { 'x-version': 'v2' });

    // Every v1 instance takes part in the default subset: the balancer spreads over the subset, not one pick.
    const ok = plain.v1 === plain.total && header.v2 === header.total && plain.perInstance.slice(0, 2).every((n) => n > 0);
    return {
      ok,
      summary: ok ? 'with the route, x-version: v2 reached only v2, and every other call only v1 (both v1 instances)' : 'a call reached a subset the route does not send it to',
      keepCalling: [{ url: 'http://api/items' }, { url: 'http://api/items', headers: { 'x-version': 'v2' } }],
    };
  });
}
