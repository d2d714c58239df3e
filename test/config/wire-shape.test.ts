/**
 * Issue 15 moved every default into the schema and made clients parse even an absent spec, without
 * changing what the control plane stores and sends: documents and snapshots keep the shape (and key
 * order) they had, a group left out stays out, and a client of this build fills in for an older control
 * plane's snapshots exactly what it fills in for a new one's. The expected JSON below is what the
 * schemas produced before the change (checked against the build of 5319039).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resolveServiceSpec, routeResourceSchema, serviceResourceSchema } from '../../src/config/resources.js';
import { serviceSnapshotSchema } from '../../src/config/wire.js';
import { call, startControlPlane, watch, type RunningControlPlane, type ServiceEvent } from '../helpers/control-plane.js';

const meta = { apiVersion: 'hyphae.dev/v1', metadata: { name: 'api' } } as const;

function storedSpec(spec: unknown): string {
  return JSON.stringify(serviceResourceSchema.parse({ ...meta, kind: 'Service', ...(spec === undefined ? {} : { spec }) }).spec);
}

describe('what the control plane stores and sends keeps its shape', () => {
  it('a Service spec: groups left out stay out, partial groups get their fields, in the same order', () => {
    assert.equal(storedSpec(undefined), '{"loadBalancer":"peak_ewma"}');
    assert.equal(storedSpec({}), '{"loadBalancer":"peak_ewma"}');
    assert.equal(storedSpec({ retryBudget: { window: '5s' } }), '{"loadBalancer":"peak_ewma","retryBudget":{"percent":20,"minPerSecond":10,"window":5000}}');
    assert.equal(
      storedSpec({ retries: { attempts: 3 } }),
      '{"loadBalancer":"peak_ewma","retries":{"attempts":3,"on":["connect-failure","reset","retriable-status","per-try-timeout"],"statusCodes":[502,503,504],"retriable4xx":false,"retryNonIdempotent":false,"maxReplayBytes":65536}}',
    );
    assert.equal(
      storedSpec({ retries: { backoff: { max: '1s' } }, ringHash: { cookie: 's' }, locality: { enabled: false } }),
      '{"loadBalancer":"peak_ewma","ringHash":{"cookie":"s","virtualNodes":256},"locality":{"enabled":false,"zoneLabel":"zone","minHealthyPercent":70},"retries":{"attempts":2,"on":["connect-failure","reset","retriable-status","per-try-timeout"],"statusCodes":[502,503,504],"retriable4xx":false,"retryNonIdempotent":false,"backoff":{"base":25,"max":1000},"maxReplayBytes":65536}}',
    );
  });

  it("a Route rule's retry without backoff is stored without one", () => {
    const route = routeResourceSchema.parse({
      ...meta,
      kind: 'Route',
      spec: { parentRefs: [{ name: 'api' }], rules: [{ backendRefs: [{ name: 'api' }], retry: { attempts: 1 } }] },
    });
    assert.equal(
      JSON.stringify(route.spec.rules[0]),
      '{"matches":[{"path":{"type":"PathPrefix","value":"/"}}],"backendRefs":[{"name":"api","weight":1}],"retry":{"attempts":1,"on":["connect-failure","reset","retriable-status","per-try-timeout"],"statusCodes":[502,503,504],"retriable4xx":false,"retryNonIdempotent":false,"maxReplayBytes":65536}}',
    );
  });
});

describe("a client of this build reads an older control plane's snapshots", () => {
  // As a control plane before issue 15 sends them (docs/usage.md "Watch stream").
  const older = (config: unknown) => serviceSnapshotSchema.parse({ name: 'api', namespace: 'default', version: 13, exists: true, instances: [], config });

  it('no Service resource (config null) and a stored partial group resolve to the same defaults as absent ones', () => {
    const none = resolveServiceSpec(older(null).config);
    assert.deepEqual(resolveServiceSpec(older({ loadBalancer: 'peak_ewma' }).config), none);
    const partial = resolveServiceSpec(older({ loadBalancer: 'peak_ewma', retryBudget: { percent: 20, minPerSecond: 10, window: 5000 } }).config);
    assert.deepEqual({ ...partial, retryBudget: none.retryBudget }, none, 'only the group it sets differs');
    assert.deepEqual(partial.retryBudget, { ...none.retryBudget, window: 5000 });
  });

  it('a snapshot of this build resolves as it did: resolving is idempotent on what is stored', () => {
    const stored = serviceResourceSchema.parse({ ...meta, kind: 'Service', spec: { retries: { attempts: 3 }, limits: { maxPending: 0 } } }).spec;
    const once = resolveServiceSpec(older(stored).config);
    assert.deepEqual(resolveServiceSpec(once), once);
    assert.equal(once.retries.attempts, 3);
    assert.deepEqual(once.retries.backoff, resolveServiceSpec(null).retries.backoff);
  });

  it('the answer for "no spec" is shared and frozen: no destination can change another\'s defaults', () => {
    const a = resolveServiceSpec(null);
    assert.equal(resolveServiceSpec(undefined), a);
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.retries.backoff) && Object.isFrozen(a.retries.statusCodes));
    assert.throws(() => {
      (a.retryBudget as { percent: number }).percent = 1;
    }, TypeError);
  });
});

/** The snapshot as a client's watch stream parses it (the helper adds when and where it arrived). */
function asReceived(e: ServiceEvent) {
  const wire: Record<string, unknown> = { ...e };
  delete wire.at;
  delete wire.index;
  return serviceSnapshotSchema.parse(wire);
}

describe('a real control plane stores and sends a partial Service as written', () => {
  let cp: RunningControlPlane;
  before(async () => {
    cp = await startControlPlane();
  });
  after(async () => {
    await cp?.stop();
  });

  it('GET and the watch snapshot carry the stored shape; the snapshot resolves to the documented defaults', { timeout: 60_000 }, async () => {
    const spec = { retryBudget: { window: '5s' }, limits: { maxPending: 3 } };
    const expected = '{"loadBalancer":"peak_ewma","retryBudget":{"percent":20,"minPerSecond":10,"window":5000},"limits":{"maxConcurrent":1024,"maxPending":3}}';
    assert.equal(storedSpec(spec), expected);
    const put = await call(cp.url, 'PUT', '/v1/resources', { ...meta, kind: 'Service', spec });
    assert.equal(put.status, 200, JSON.stringify(put.body));

    const got = await call<{ resource: { spec: unknown } }>(cp.url, 'GET', '/v1/resources/Service/default/api');
    assert.equal(got.status, 200);
    assert.equal(JSON.stringify(got.body.resource.spec), expected);

    const w = await watch(cp.url, ['api', 'web']);
    try {
      const api = await w.waitForService('api', (s) => s.config !== null, 30_000);
      assert.equal(JSON.stringify(api.config), expected);
      const web = await w.waitForService('web', () => true, 30_000);
      assert.equal(web.config, null, 'no Service resource: null, as before');

      const applied = resolveServiceSpec(asReceived(api).config);
      const none = resolveServiceSpec(asReceived(web).config);
      assert.deepEqual({ ...applied, retryBudget: none.retryBudget, limits: none.limits }, none);
      assert.deepEqual(applied.retryBudget, { ...none.retryBudget, window: 5000 });
      assert.deepEqual(applied.limits, { ...none.limits, maxPending: 3 });
    } finally {
      await w.close();
    }
  });
});
