/**
 * A registry change reaches an open watcher at once, each its own snapshot. The figures (a few ms at p50 on an
 * idle machine) are measured by `npm run bench:control-plane`; here the bounds only tell a push from a poll,
 * a batching delay or a stall, on a machine busy with other work.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Watcher, call, percentile, register, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

describe('watch latency', () => {
  let cp: RunningControlPlane;
  let watcher: Watcher;

  before(async () => {
    cp = await startControlPlane();
    watcher = await Watcher.open(cp.url, ['lat']);
    await watcher.waitForService('lat');
  });
  after(async () => {
    await watcher?.close();
    await cp?.stop();
  });

  it('pushes each of 100 register/deregister changes to the watcher at once (no poll, no batching delay)', async () => {
    const latencies: number[] = [];
    let leaseId: string | undefined;
    for (let i = 0; i < 100; i++) {
      const from = watcher.events.length;
      const t0 = performance.now();
      let want: number;
      if (leaseId === undefined) {
        leaseId = (await register(cp.url, { service: 'lat', address: '127.0.0.1', port: 9000 + i })).leaseId;
        want = 1;
      } else {
        const res = await call(cp.url, 'DELETE', `/v1/leases/${leaseId}`);
        assert.equal(res.status, 204);
        leaseId = undefined;
        want = 0;
      }
      const snap = await watcher.waitForService('lat', (s) => s.instances.length === want, 10_000, from);
      // From sending the change to the watcher having parsed it: includes the writer's own round trip.
      latencies.push(snap.at - t0);
    }
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log(`watch latency over ${latencies.length} changes: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${Math.max(...latencies).toFixed(2)} ms`);
    assert.equal(latencies.length, 100);
    // A change held for a tick or a batch would show at the median; the p99 ceiling catches a stalled one.
    assert.ok(p50 < 250, `p50 ${p50.toFixed(1)} ms`);
    assert.ok(p99 < 1_000, `p99 ${p99.toFixed(1)} ms`);
    // Every change was its own snapshot, with growing versions.
    const versions = watcher.snapshots('lat').map((s) => s.version);
    assert.equal(versions.length, 101);
    assert.ok(
      versions.every((v, i) => i === 0 || v > versions[i - 1]!),
      'versions grow',
    );
  });
});
