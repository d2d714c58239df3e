import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { startApi, type RunningService } from '../helpers/services.js';

let cp: RunningControlPlane;
let apis: RunningService[] = [];
let mesh: Mesh;

before(async () => {
  cp = await startControlPlane();
  apis = await Promise.all(['v1', 'v1', 'v1'].map((v) => startApi(cp, v)));
  mesh = await createMesh(await cp.meshOptions('client'));
});

after(async () => {
  await mesh?.close();
  await Promise.all(apis.map((a) => a.child.kill()));
  await cp?.stop();
});

it('replacing every api instance one by one under 50 req/s loses no request', async () => {
  const rate = 50;
  const durationMs = 10_000;
  const outcomes: { ok: boolean; instance?: string; error?: string }[] = [];
  const inflight: Promise<void>[] = [];
  const seen = new Set<string>();
  const send = async () => {
    try {
      const res = await mesh.request('http://api/');
      const body = (await res.body.json()) as { instance: string };
      outcomes.push({ ok: res.statusCode === 200, instance: body.instance });
      seen.add(body.instance);
    } catch (err) {
      outcomes.push({ ok: false, error: `${(err as { code?: string }).code ?? ''} ${(err as Error).message}` });
    }
  };
  // Open loop: one request every 20 ms whatever the previous ones do, for at least 10 s and until the restart
  // is over and every new instance has answered (starting three processes can take longer than 10 s on a busy
  // machine), bounded in count (2 minutes of traffic).
  const minTotal = (rate * durationMs) / 1000;
  const maxTotal = rate * 120;
  let restarted = false;
  let sent = 0;
  const traffic = (async () => {
    const start = performance.now();
    for (let i = 0; i < maxTotal; i++) {
      if (i >= minTotal && restarted && apis.every((a) => seen.has(a.id))) break;
      inflight.push(send());
      sent++;
      const next = start + ((i + 1) * 1000) / rate;
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
  })();

  await new Promise((r) => setTimeout(r, 1_000));
  const original = apis.map((a) => a.id);
  for (let i = 0; i < apis.length; i++) {
    const fresh = await startApi(cp, 'v2');
    const old = apis[i]!;
    apis[i] = fresh;
    assert.equal(await old.child.kill('SIGTERM'), 0, 'the old instance drains and exits 0');
  }
  restarted = true;
  await traffic;
  await Promise.all(inflight);

  const failed = outcomes.filter((o) => !o.ok);
  const answeredBy = new Set(outcomes.map((o) => o.instance));
  console.log(`${outcomes.length} requests, ${failed.length} failed; answered by ${answeredBy.size} instances`);
  assert.equal(outcomes.length, sent);
  assert.ok(sent >= minTotal, `${sent} requests`);
  assert.deepEqual(failed, []);
  // Both generations served: the restart really happened under this traffic.
  assert.ok(original.some((id) => answeredBy.has(id)));
  assert.ok(
    apis.every((a) => answeredBy.has(a.id)),
    'every new instance took traffic',
  );
});
