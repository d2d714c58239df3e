import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { startApi, waitUntil, type RunningService } from '../helpers/services.js';

let cp: RunningControlPlane;
let apis: RunningService[];
let mesh: Mesh;

before(async () => {
  cp = await startControlPlane();
  apis = await Promise.all(['v1', 'v1', 'v2'].map((v) => startApi(cp, v)));
  // peak_ewma is the default balancer; this test is about round robin, so the service asks for it.
  const applied = await call(cp.url, 'PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'api' }, spec: { loadBalancer: 'round_robin' } });
  assert.equal(applied.status, 200, applied.text);
  mesh = await createMesh(await cp.meshOptions('client'));
});

after(async () => {
  await mesh?.close();
  await Promise.all((apis ?? []).map((a) => a.child.kill()));
  await cp?.stop();
});

it('three api instances get round-robin traffic within +-1 call each over 300 calls', async () => {
  // The first call opens the watch; wait until this process sees all three before counting.
  await (await mesh.request('http://api/')).body.dump();
  await waitUntil(() => mesh.endpoints('api').length === 3, 5_000);
  const counts = new Map<string, number>(apis.map((a) => [a.id, 0]));
  for (let i = 0; i < 300; i++) {
    const res = await mesh.request('http://api/items');
    assert.equal(res.statusCode, 200);
    const body = (await res.body.json()) as { instance: string };
    counts.set(body.instance, (counts.get(body.instance) ?? 0) + 1);
  }
  console.log('calls per instance:', Object.fromEntries(counts));
  assert.equal(counts.size, 3, `unexpected instances answered: ${[...counts.keys()].join(', ')}`);
  for (const [id, n] of counts) assert.ok(Math.abs(n - 100) <= 1, `${id} got ${n} calls, expected 100 +- 1`);
});
