import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { startControlPlane, Watcher, type RunningControlPlane } from '../helpers/control-plane.js';
import { startApi, waitUntil, type RunningService } from '../helpers/services.js';

const TTL_SECONDS = 2;
let cp: RunningControlPlane;
let apis: RunningService[] = [];
const meshes: Mesh[] = [];

before(async () => {
  cp = await startControlPlane({ ttlSeconds: TTL_SECONDS });
  apis = await Promise.all([1, 2, 3].map(() => startApi(cp, 'v1', { HYPHAE_TTL_SECONDS: String(TTL_SECONDS) })));
});

after(async () => {
  await Promise.all(meshes.map((m) => m.close()));
  await Promise.all(apis.map((a) => a.child.kill('SIGKILL')));
  await cp?.stop();
});

it('an instance killed with SIGKILL leaves every watcher within its TTL plus one heartbeat interval', async () => {
  // Three watchers: two meshes (their endpoint sets) and a raw SSE watch.
  for (let i = 0; i < 2; i++) meshes.push(await createMesh(await cp.meshOptions('client')));
  for (const m of meshes) await (await m.request('http://api/')).body.dump();
  const raw = await Watcher.open(cp.url, ['api']);
  try {
    for (const m of meshes) await waitUntil(() => m.endpoints('api').length === 3, 5_000);
    const victim = apis[0]!;
    const killedAt = performance.now();
    await victim.child.kill('SIGKILL');
    const gone = (ids: string[]) => !ids.includes(victim.id);
    const limitMs = TTL_SECONDS * 1000 + (TTL_SECONDS * 1000) / 3;
    await Promise.all([
      ...meshes.map((m) => waitUntil(() => gone(m.endpoints('api').map((e) => e.id)), limitMs + 2_000)),
      waitUntil(
        () =>
          gone(
            raw
              .snapshots('api')
              .at(-1)
              ?.instances.map((i) => i.id) ?? [victim.id],
          ),
        limitMs + 2_000,
      ),
    ]);
    // Polled every 5 ms, so this is when the slowest watcher had it (an upper bound).
    const worst = performance.now() - killedAt;
    console.log(`removed from all 3 watchers ${worst.toFixed(0)} ms after SIGKILL (limit ${limitMs.toFixed(0)} ms + 250 ms slack)`);
    assert.ok(worst <= limitMs + 250, `took ${worst.toFixed(0)} ms`);
    for (const m of meshes) assert.equal(m.endpoints('api').length, 2);
  } finally {
    await raw.close();
  }
});
