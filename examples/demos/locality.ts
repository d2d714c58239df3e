/**
 * `npm run demo -- locality`: api runs two instances in zone-a and two in
 * zone-b; this process calls it from zone-a. With the locality settings
 * applied by `hyphae apply`, calls stay in zone-a, also when one zone-a
 * instance goes away (a deregistered instance leaves the zone, so the one left
 * is all of it, and healthy); when both go the calls move to zone-b, and when
 * zone-a comes back so does the traffic.
 *
 * This is failover between zones of one cluster; `npm run demo -- failover`
 * (examples/demos/cross-cluster.ts) fails over to another cluster.
 */
import type { Mesh } from 'hyphae';
import type { ExampleInstance } from '../lib/demo-mesh.js';
import { runDemo, type DemoOptions } from '../lib/demo-session.js';
import { percent, tally, waitForStreak, waitUntil } from '../lib/demo-traffic.js';

const CALLS = 200;

export function run(options: DemoOptions): Promise<number> {
  return runDemo('hyphae demo locality: zone-a instances go away and come back; traffic from zone-a follows (locality failover)', options, async ({ mesh, log, client, apply }) => {
    log('  (failover between zones of one cluster; npm run demo -- failover fails over to another cluster)');
    const zoneOf = new Map<string, string>();
    const start = async (zone: string): Promise<ExampleInstance> => {
      const s = await mesh.startExampleService('api', { HYPHAE_LABELS: `zone=${zone}` });
      zoneOf.set(s.id, zone);
      log(`  api             ${s.id} zone=${zone}`);
      return s;
    };
    const zoneA = [await start('zone-a'), await start('zone-a')];
    await Promise.all([start('zone-b'), start('zone-b')]);
    // This process is in zone-a: its mesh's zone label is what locality compares with.
    const demo: Mesh = await client({ zone: 'zone-a' });
    log(`  this process    zone=zone-a`);
    log('');
    await apply('examples/demos/locality/1-locality-off.yaml', 'locality off: calls spread over both zones');
    log('');

    const upIn = (zone: string) => demo.endpoints('api').filter((e) => zoneOf.get(e.id) === zone).length;
    const measure = async (state: string, calls: number) => {
      const t = await tally(calls, 4, async (signal) => {
        const res = await demo.request('http://api/', { signal });
        const body = (await res.body.json()) as { instance?: string };
        return res.statusCode === 200 ? zoneOf.get(body.instance ?? '') : undefined;
      });
      log(
        `  ${state.padEnd(34)} zone-a ${String(t.of('zone-a')).padStart(3)}, zone-b ${String(t.of('zone-b')).padStart(3)} of ${t.total} (${t.failed} failed): zone-a kept ${percent(t.of('zone-a'), t.total)}`,
      );
      return t;
    };
    // Locality is on by default, so every call stayed in zone-a: the first one zone-b answers says the change arrived.
    await waitUntil(
      'zone-b answers a call',
      async () => {
        const res = await demo.request('http://api/');
        return zoneOf.get(((await res.body.json()) as { instance?: string }).instance ?? '') === 'zone-b';
      },
      { intervalMs: 0 },
    );
    const spread = await measure('locality off, 4 of 4 up', CALLS);
    log('');
    await apply('examples/demos/locality/2-locality-on.yaml', 'locality on: stay in the caller zone while 70 % of its instances are healthy');
    // Locality applies once the Service reaches this process: the first all-local streak says it has.
    await waitForStreak('calls stay in zone-a', async () => {
      const res = await demo.request('http://api/');
      const body = (await res.body.json()) as { instance?: string };
      return zoneOf.get(body.instance ?? '') === 'zone-a';
    });
    const allUp = await measure('locality on, zone-a 2 of 2 up', CALLS);

    // SIGTERM: the instance deregisters (the control plane pushes that to every caller), then drains.
    await zoneA[0]!.child.kill('SIGTERM');
    await waitUntil('this process sees one zone-a instance', () => upIn('zone-a') === 1);
    const one = await measure('zone-a 1 of 2 up', CALLS);
    log(`  ${''.padEnd(34)} (the instance that left is no longer in zone-a: the one left is all of it, and healthy)`);

    await zoneA[1]!.child.kill('SIGTERM');
    await waitUntil('this process sees no zone-a instance', () => upIn('zone-a') === 0);
    const none = await measure('zone-a 0 of 2 up', CALLS);

    log('  zone-a comes back: two new instances');
    await Promise.all([start('zone-a'), start('zone-a')]);
    await waitUntil('this process sees two zone-a instances', () => upIn('zone-a') === 2);
    const back = await measure('zone-a 2 of 2 up again', CALLS);

    const ok = spread.of('zone-a') > 0 && spread.of('zone-b') > 0 && [allUp, one, back].every((t) => t.of('zone-a') === t.total) && none.of('zone-b') === none.total;
    return {
      ok,
      summary: ok ? 'traffic stayed in zone-a while it had an instance, moved to zone-b when it had none, and came back with it' : 'traffic did not follow the zones as the locality settings say',
      keepCalling: [{ url: 'http://api/' }],
    };
  });
}
