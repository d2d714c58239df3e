/**
 * Must-show 6 of issue 4: with api instances in zone-a and zone-b, a caller in
 * zone-a sends everything to zone-a; when every zone-a instance is gone,
 * traffic moves to zone-b (no request fails), and it comes back when zone-a
 * does. Zones come from the `zone` label (HYPHAE_LABELS), the default
 * Service.spec.locality.zoneLabel; no Service resource is needed.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { startApi, type RunningService } from '../helpers/services.js';
import { ask, countBy, type ApiAnswer } from './traffic-helpers.js';

let cp: RunningControlPlane;
let zoneA: RunningService[] = [];
let zoneB: RunningService[] = [];
let mesh: Mesh;

const inZone = (zone: string) => ({ HYPHAE_LABELS: `zone=${zone}` });

before(async () => {
  cp = await startControlPlane();
  [zoneA, zoneB] = await Promise.all([
    Promise.all([startApi(cp, 'v1', inZone('zone-a')), startApi(cp, 'v1', inZone('zone-a'))]),
    Promise.all([startApi(cp, 'v1', inZone('zone-b')), startApi(cp, 'v1', inZone('zone-b'))]),
  ]);
  mesh = await createMesh({ ...(await cp.meshOptions('client')), labels: { zone: 'zone-a' } });
});

after(async () => {
  await mesh?.close();
  await Promise.all([...zoneA, ...zoneB].map((a) => a.child.kill()));
  await cp?.stop();
});

it('zone-a caller: all to zone-a, to zone-b when zone-a is gone, and back', async () => {
  const zoneOf = new Map<string, string>();
  for (const a of zoneA) zoneOf.set(a.id, 'zone-a');
  for (const b of zoneB) zoneOf.set(b.id, 'zone-b');
  const zones = (answers: ApiAnswer[]) => countBy(answers, (a) => (a.status === 200 ? zoneOf.get(a.instance!) : `failed: ${a.error ?? a.status}`));

  await ask(mesh, '/');
  await waitFor(() => mesh.endpoints('api').length === 4, 5_000);
  const local = await run(300);
  console.log(
    'all zones up:',
    zones(local),
    'instances',
    countBy(local, (a) => a.instance),
  );
  assert.deepEqual(zones(local), { 'zone-a': 300 });

  // Take zone-a down (graceful: deregister, drain, exit) while traffic flows.
  const during: ApiAnswer[] = [];
  let stop = false;
  const traffic = (async () => {
    while (!stop) during.push(await ask(mesh, '/'));
  })();
  const t0 = performance.now();
  await Promise.all(zoneA.map((a) => a.child.kill('SIGTERM')));
  await waitFor(() => mesh.endpoints('api').length === 2, 5_000);
  const failover = await run(300);
  console.log(`zone-a gone (after ${(performance.now() - t0).toFixed(0)} ms): ${JSON.stringify(zones(failover))}; during the move: ${JSON.stringify(zones(during))}`);
  assert.deepEqual(zones(failover), { 'zone-b': 300 });

  // Zone-a comes back.
  const back = await startApi(cp, 'v1', inZone('zone-a'));
  zoneA = [back];
  zoneOf.set(back.id, 'zone-a');
  const t1 = performance.now();
  await waitFor(() => during.at(-1)?.instance === back.id, 5_000);
  const tookMs = performance.now() - t1;
  stop = true;
  await traffic;
  const recovered = await run(300);
  console.log(`zone-a back: traffic returned ${tookMs.toFixed(0)} ms after the instance was ready; then ${JSON.stringify(zones(recovered))}`);
  assert.deepEqual(zones(recovered), { 'zone-a': 300 });
  const failed = during.filter((a) => a.status !== 200);
  console.log(`${during.length} requests while zones changed, ${failed.length} failed`);
  assert.deepEqual(failed, []);
});

async function run(n: number): Promise<ApiAnswer[]> {
  const out: ApiAnswer[] = [];
  for (let i = 0; i < n; i++) out.push(await ask(mesh, '/'));
  return out;
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
