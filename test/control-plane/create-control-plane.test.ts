/** createControlPlane() in process: options, close(), and the cost of many leases. */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import { registerRequestSchema } from '../../src/config/instance.js';
import { createControlPlane, type ControlPlane } from '../../src/control-plane/index.js';
import { Watcher, call, makeTempDir, trustControlPlane } from '../helpers/control-plane.js';

describe('createControlPlane', () => {
  const dirs: string[] = [];
  const planes: ControlPlane[] = [];
  async function start(extra: Partial<Parameters<typeof createControlPlane>[0]> = {}): Promise<ControlPlane> {
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const cp = await createControlPlane({ port: 0, dataDir, ...extra });
    planes.push(cp);
    await trustControlPlane(cp);
    return cp;
  }
  after(async () => {
    await Promise.all(planes.map((p) => p.close()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('listens on a free port with port 0 and reports its URL; logs through the given sink', async () => {
    const lines: string[] = [];
    const cp = await start({ log: (l) => lines.push(l) });
    assert.ok(cp.port > 0);
    assert.equal(cp.host, '127.0.0.1');
    // Secure by default: HTTPS from the control plane's own CA.
    assert.equal(cp.url, `https://127.0.0.1:${cp.port}`);
    assert.equal((await call(cp.url, 'GET', '/v1/health')).status, 200);
    // The CA and admin-token lines come first; every line is timestamped.
    assert.ok(
      lines.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /.test(l)),
      lines.join('\n'),
    );
    assert.match(
      lines.find((l) => l.includes(' listening '))!,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z listening https:\/\/127\.0\.0\.1:\d+ data=/,
    );
  });

  it('rejects bad options with an error naming each one', async () => {
    await assert.rejects(createControlPlane({ dataDir: '', port: -1, heartbeatMs: 0, defaultTtlSeconds: 1000 }), (err: unknown) => {
      assert.ok(isMeshError(err, 'HYPHAE_ERR_INVALID_OPTIONS'));
      for (const name of ['dataDir', 'port', 'heartbeatMs', 'defaultTtlSeconds']) assert.ok(err.message.includes(`${name}:`), `${name} in ${err.message}`);
      return true;
    });
  });

  it('close() ends watch streams, stops the server, and may be called twice', async () => {
    const cp = await start({ heartbeatMs: 50 });
    const watcher = await Watcher.open(cp.url, ['x']);
    const t0 = performance.now();
    await cp.close();
    await cp.close();
    await watcher.ended;
    assert.ok(performance.now() - t0 < 1_500, 'closing does not wait for the streams to time out');
    await assert.rejects(call(cp.url, 'GET', '/v1/health'), /ECONNREFUSED|fetch failed|connect/);
  });

  it('holds 10,000 leases cheaply: register, renew and expire them all', async () => {
    const cp = await start({ defaultTtlSeconds: 1 });
    const changed = new Set<string>();
    cp.registry.onChange((s) => changed.add(s));
    const heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const leases: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const req = registerRequestSchema.parse({ service: `svc-${i % 100}`, address: '10.0.0.1', port: 1024 + i });
      leases.push((await cp.registry.register(req)).leaseId);
    }
    const registered = performance.now();
    for (const id of leases) assert.equal(await cp.registry.renew(id), 1);
    const renewed = performance.now();
    const heapAfter = process.memoryUsage().heapUsed;
    console.log(`10,000 leases: register ${(registered - t0).toFixed(0)} ms, renew all ${(renewed - registered).toFixed(1)} ms, ~${((heapAfter - heapBefore) / 1024 / 1024).toFixed(1)} MiB heap`);
    assert.equal(cp.registry.size, 10_000);
    assert.equal(changed.size, 100);
    // Tens of ms on an idle machine (and in `npm run bench:control-plane`); the ceiling only catches a renewal
    // whose cost grew with the registry (10,000 x 10,000), not a busy machine.
    assert.ok(renewed - registered < 5_000, `renewing 10,000 leases took ${(renewed - registered).toFixed(0)} ms`);
    // Without heartbeats, all of them expire, about the 1 s TTL after their last renewal: 5 TTLs is a ceiling
    // a busy machine stays under, and a sweep that stalled or missed leases does not.
    const deadline = performance.now() + 30_000;
    while (cp.registry.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(cp.registry.size, 0);
    assert.ok(performance.now() - renewed < 5_000, `all expired ${(performance.now() - renewed).toFixed(0)} ms after the last renewal`);
  });
});
