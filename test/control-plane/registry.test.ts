/** Register, heartbeat, deregister and re-register against a real control-plane process. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Instance, RegisterResponse } from '../../src/config/instance.js';
import { Watcher, call, deregister, heartbeat, register, startControlPlane, type ErrorResponse, type RunningControlPlane } from '../helpers/control-plane.js';

describe('registry', () => {
  let cp: RunningControlPlane;
  let watcher: Watcher;

  before(async () => {
    cp = await startControlPlane();
    watcher = await Watcher.open(cp.url, ['api']);
  });
  after(async () => {
    await watcher?.close();
    await cp?.stop();
  });

  it('sends an empty, non-existent snapshot for a service nobody registered', async () => {
    const first = await watcher.waitForService('api');
    assert.deepEqual(
      { ...first, at: 0, index: 0 },
      {
        name: 'api',
        namespace: 'default',
        version: 0,
        exists: false,
        instances: [],
        config: null,
        routes: [],
        policies: [],
        mtlsMode: 'STRICT',
        at: 0,
        index: 0,
      },
    );
  });

  let lease: RegisterResponse;

  it('registers an instance: 201, lease, default TTL, and the instance as watchers see it', async () => {
    const from = watcher.events.length;
    lease = await register(cp.url, { service: 'api', address: '127.0.0.1', port: 4001, labels: { version: 'v1', zone: 'a' } });
    assert.match(lease.leaseId, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(lease.ttlSeconds, 10);
    const expected: Instance = {
      id: '127.0.0.1:4001',
      service: 'api',
      namespace: 'default',
      address: '127.0.0.1',
      port: 4001,
      labels: { version: 'v1', zone: 'a' },
      weight: 1,
    };
    assert.deepEqual(lease.instance, expected);

    const listed = await call<{ instances: Instance[] }>(cp.url, 'GET', '/v1/instances');
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.instances, [expected]);

    const snap = await watcher.waitForService('api', (s) => s.instances.length === 1, 2_000, from);
    assert.equal(snap.exists, true);
    assert.ok(snap.version > 0, 'a change gets a version');
    assert.deepEqual(snap.instances, [expected]);
  });

  it('filters GET /v1/instances by service and namespace, and lists services', async () => {
    await register(cp.url, { service: 'web', namespace: 'shop', address: '127.0.0.1', port: 5001 });
    const byService = await call<{ instances: Instance[] }>(cp.url, 'GET', '/v1/instances?service=api');
    assert.deepEqual(
      byService.body.instances.map((i) => i.id),
      ['127.0.0.1:4001'],
    );
    const byNamespace = await call<{ instances: Instance[] }>(cp.url, 'GET', '/v1/instances?namespace=shop');
    assert.deepEqual(
      byNamespace.body.instances.map((i) => `${i.namespace}/${i.service}`),
      ['shop/web'],
    );
    // A service name alone means the default namespace.
    const wrongNs = await call<{ instances: Instance[] }>(cp.url, 'GET', '/v1/instances?service=web');
    assert.deepEqual(wrongNs.body.instances, []);
    const all = await call<{ instances: Instance[] }>(cp.url, 'GET', '/v1/instances');
    assert.equal(all.body.instances.length, 2);

    const services = await call<{ services: unknown[] }>(cp.url, 'GET', '/v1/services');
    assert.equal(services.status, 200);
    assert.deepEqual(services.body.services, [
      { namespace: 'default', name: 'api', instances: 1, hasConfig: false },
      { namespace: 'shop', name: 'web', instances: 1, hasConfig: false },
    ]);
    const health = await call<{ status: string; instances: number; services: number }>(cp.url, 'GET', '/v1/health');
    assert.equal(health.body.status, 'ok');
    assert.equal(health.body.instances, 2);
    assert.equal(health.body.services, 2);

    const bad = await call<ErrorResponse['body']>(cp.url, 'GET', '/v1/instances?service=Not_A_Name');
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /invalid service "Not_A_Name"/);
  });

  it('renews a lease on heartbeat, with or without an empty JSON body', async () => {
    const res = await call<{ ttlSeconds: number }>(cp.url, 'PUT', `/v1/leases/${lease.leaseId}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { ttlSeconds: 10 });
    const withBody = await call(cp.url, 'PUT', `/v1/leases/${lease.leaseId}`, {});
    assert.equal(withBody.status, 200);
  });

  it('replaces the old lease when the same address and port register again', async () => {
    const from = watcher.events.length;
    const again = await register(cp.url, { service: 'api', address: '127.0.0.1', port: 4001, labels: { version: 'v2' }, ttlSeconds: 30 });
    assert.notEqual(again.leaseId, lease.leaseId);
    assert.equal(again.ttlSeconds, 30, 'the TTL asked for is granted');

    const old = await call<ErrorResponse['body']>(cp.url, 'PUT', `/v1/leases/${lease.leaseId}`);
    assert.equal(old.status, 404);
    assert.equal(old.body.error.code, 'HYPHAE_ERR_LEASE_NOT_FOUND');
    assert.match(old.body.error.message, /register the instance again/);

    const snap = await watcher.waitForService('api', (s) => s.instances[0]?.labels.version === 'v2', 2_000, from);
    assert.equal(snap.instances.length, 1, 'a replacement, not a second instance');
    assert.equal(await heartbeat(cp.url, again.leaseId), 200);
    lease = again;
  });

  it('does not push a snapshot when a re-registration changes nothing', async () => {
    const before = watcher.snapshots('api').length;
    const same = await register(cp.url, { service: 'api', address: '127.0.0.1', port: 4001, labels: { version: 'v2' }, ttlSeconds: 30 });
    // A change to another service is the barrier: once it has arrived, any api event would have too.
    const w2 = await Watcher.open(cp.url, ['barrier']);
    const from = w2.events.length;
    await register(cp.url, { service: 'barrier', address: '127.0.0.1', port: 6001 });
    await w2.waitForService('barrier', (s) => s.instances.length === 1, 2_000, from);
    await w2.close();
    assert.equal(watcher.snapshots('api').length, before);
    lease = same;
  });

  it('deregisters: 204, the instance leaves watchers, the service still exists, the lease is gone', async () => {
    const from = watcher.events.length;
    assert.equal(await deregister(cp.url, lease.leaseId), 204);
    const snap = await watcher.waitForService('api', (s) => s.instances.length === 0, 2_000, from);
    assert.equal(snap.exists, true, 'a service that had instances keeps existing');
    assert.equal(await deregister(cp.url, lease.leaseId), 404);
    assert.equal(await heartbeat(cp.url, lease.leaseId), 404);
    const listed = await call<{ instances: Instance[] }>(cp.url, 'GET', '/v1/instances?service=api');
    assert.deepEqual(listed.body.instances, []);
  });

  it('hands out unguessable, distinct lease ids and accepts IPv6 addresses', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add((await register(cp.url, { service: 'many', address: '::1', port: 7000 + i })).leaseId);
    assert.equal(ids.size, 50);
    const listed = await call<{ instances: Instance[] }>(cp.url, 'GET', '/v1/instances?service=many');
    assert.equal(listed.body.instances[0]!.id, '[::1]:7000');
  });

  it('logs one line per event, never a full lease id', async () => {
    await cp.child.waitFor(/register default\/api 127\.0\.0\.1:4001 lease=[A-Za-z0-9_-]{8}… ttl=10s version=v1 zone=a/);
    await cp.child.waitFor(/deregister default\/api 127\.0\.0\.1:4001 lease=/);
    await cp.child.waitFor(/watch open stream=\S+ peer=127\.0\.0\.1:\d+ services=default\/api/);
    const leak = cp.child.lines.find((l) => l.includes(lease.leaseId));
    assert.equal(leak, undefined, `a log line shows a whole lease id: ${leak}`);
  });
});
