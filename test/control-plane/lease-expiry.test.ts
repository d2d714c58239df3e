/** An instance that stops heartbeating disappears from watchers within its TTL plus a small slack. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Watcher, heartbeat, register, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

describe('lease expiry (--ttl 1)', () => {
  let cp: RunningControlPlane;
  let watcher: Watcher;

  before(async () => {
    cp = await startControlPlane({ ttlSeconds: 1 });
    watcher = await Watcher.open(cp.url, ['pulse', 'silent']);
  });
  after(async () => {
    await watcher?.close();
    await cp?.stop();
  });

  it('removes a silent instance within TTL + 500 ms, pushing the change to watchers', async () => {
    const from = watcher.events.length;
    const t0 = performance.now();
    const lease = await register(cp.url, { service: 'silent', address: '127.0.0.1', port: 4100 });
    const registeredAt = performance.now();
    assert.equal(lease.ttlSeconds, 1, '--ttl sets the default TTL');
    const added = await watcher.waitForService('silent', (s) => s.instances.length === 1, 2_000, from);
    const removed = await watcher.waitForService('silent', (s) => s.instances.length === 0, 3_000, added.index + 1);
    // The lease started while the registration was in flight (a busy machine can make that hundreds of ms):
    // "too late" counts from its answer, the latest start, and "too early" from its sending, the earliest.
    const elapsed = removed.at - registeredAt;
    const sinceSent = removed.at - t0;
    console.log(`expiry: instance removed ${elapsed.toFixed(1)} ms after registration (TTL 1000 ms; request took ${(registeredAt - t0).toFixed(1)} ms)`);
    assert.ok(sinceSent >= 950, `removed too early: ${sinceSent.toFixed(1)} ms after the registration was sent`);
    assert.ok(elapsed <= 1500, `removed too late: ${elapsed.toFixed(1)} ms`);
    assert.equal(await heartbeat(cp.url, lease.leaseId), 404, 'an expired lease is unknown');
    await cp.child.waitFor(/expire default\/silent 127\.0\.0\.1:4100 lease=\S+ \(no heartbeat for 1s\)/);
  });

  it('keeps an instance that heartbeats, and drops it once the heartbeats stop', async () => {
    const from = watcher.events.length;
    const lease = await register(cp.url, { service: 'pulse', address: '127.0.0.1', port: 4200 });
    await watcher.waitForService('pulse', (s) => s.instances.length === 1, 2_000, from);
    // 2.5 TTLs of heartbeats every 300 ms: without renewal the lease would have expired twice.
    const until = performance.now() + 2_500;
    let lastBeatAt: number;
    for (;;) {
      assert.equal(await heartbeat(cp.url, lease.leaseId), 200);
      lastBeatAt = performance.now();
      if (lastBeatAt >= until) break;
      await sleep(300);
    }
    assert.equal(watcher.snapshots('pulse').filter((s) => s.instances.length === 0).length, 1, 'only the initial empty snapshot: the instance never left');
    const removed = await watcher.waitForService('pulse', (s) => s.instances.length === 0, 3_000, from + 1);
    const elapsed = removed.at - lastBeatAt;
    console.log(`expiry: instance removed ${elapsed.toFixed(1)} ms after its last heartbeat was answered (TTL 1000 ms)`);
    assert.ok(elapsed >= 950, `removed too early: ${elapsed.toFixed(1)} ms`);
    assert.ok(elapsed <= 1500, `removed too late: ${elapsed.toFixed(1)} ms`);
  });
});
