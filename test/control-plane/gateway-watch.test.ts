/** The watch stream's gateway view: `Gateway/<ns>/<name>` keys, `gateway` events with the spec and every attached route, live. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { GatewaySnapshot, ServiceSnapshot } from '../../src/config/wire.js';
import { Watcher, call, startControlPlane, type ErrorResponse, type RunningControlPlane } from '../helpers/control-plane.js';

const service = (name: string) => ({ apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name } });
const EDGE = {
  apiVersion: 'hyphae.dev/v1',
  kind: 'Gateway',
  metadata: { name: 'edge' },
  spec: { listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }] },
};
const route = (name: string, parentRefs: unknown[], extra: Record<string, unknown> = {}) => ({
  apiVersion: 'hyphae.dev/v1',
  kind: 'Route',
  metadata: { name },
  spec: { parentRefs, rules: [{ backendRefs: [{ name: 'web' }] }], ...extra },
});

const isGateway = (pred: (s: GatewaySnapshot) => boolean) => (e: { event: string; data: unknown }) => e.event === 'gateway' && pred(e.data as GatewaySnapshot);
const routeNames = (s: { routes: { metadata: { name: string } }[] }) => s.routes.map((r) => r.metadata.name);

describe('watch: gateways', () => {
  let cp: RunningControlPlane;

  before(async () => {
    cp = await startControlPlane({ heartbeatMs: 200 });
    assert.equal((await call(cp.url, 'PUT', '/v1/resources', { items: [service('web'), service('api')] })).status, 200);
  });
  after(() => cp?.stop());

  it('follows a gateway that does not exist yet, then hears its apply, attached routes, and their delete', async () => {
    const w = await Watcher.open(cp.url, ['Gateway/edge', 'api']);
    try {
      const first = await w.waitFor(isGateway(() => true));
      assert.deepEqual(first.data, { name: 'edge', namespace: 'default', version: 0, exists: false, config: null, routes: [] });

      assert.equal((await call(cp.url, 'PUT', '/v1/resources', EDGE)).status, 200);
      const applied = (
        await w.waitFor(
          isGateway((s) => s.exists),
          10_000,
          first.index + 1,
        )
      ).data as GatewaySnapshot;
      assert.deepEqual(
        applied.config?.listeners.map((l) => l.name),
        ['http'],
      );
      assert.equal(applied.config?.edge.timeouts.idle, 75_000, 'the stored spec carries its defaults');

      const both = route('both', [{ kind: 'Gateway', name: 'edge' }, { name: 'api' }], { hostnames: ['shop.example.com'] });
      const res = await call(cp.url, 'PUT', '/v1/resources', { items: [route('shop', [{ kind: 'Gateway', name: 'edge' }]), both] });
      assert.equal(res.status, 200, res.text);
      const withRoutes = await w.waitFor(
        isGateway((s) => s.routes.length === 2),
        10_000,
      );
      assert.deepEqual(routeNames(withRoutes.data as GatewaySnapshot), ['both', 'shop']);
      assert.ok((withRoutes.data as GatewaySnapshot).version > applied.version, 'versions grow');
      // A route with a Service parent too reaches that service's callers; a Gateway-only route does not.
      const api = await w.waitForService('api', (s) => s.routes.length > 0, 10_000);
      assert.deepEqual(routeNames(api), ['both']);
      // ...in the shape clients before Gateways parse: Service parents only, no kind, no hostnames.
      assert.deepEqual(api.routes[0]!.spec, { parentRefs: [{ name: 'api' }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'web', weight: 1 }] }] });
      const gwBoth = (withRoutes.data as GatewaySnapshot).routes[0]!;
      assert.deepEqual(gwBoth.spec.parentRefs, [{ kind: 'Gateway', name: 'edge' }, { name: 'api' }], 'the gateway gets the route whole');
      assert.deepEqual(gwBoth.spec.hostnames, ['shop.example.com']);

      assert.equal((await call(cp.url, 'DELETE', '/v1/resources/Route/default/shop')).status, 200);
      const afterDelete = await w.waitFor(
        isGateway((s) => s.routes.length === 1),
        10_000,
        withRoutes.index + 1,
      );
      assert.deepEqual(routeNames(afterDelete.data as GatewaySnapshot), ['both']);
      assert.deepEqual(routeNames(w.latest('api') as ServiceSnapshot), ['both'], 'the service keeps its route');
    } finally {
      await w.close();
    }
  });

  it('adds and removes gateways on an open stream, and refuses keys that are not references', async () => {
    const w = await Watcher.open(cp.url, []);
    try {
      const add = await w.update(['Gateway/default/edge', 'Gateway/infra/other']);
      assert.equal(add.status, 204, add.text);
      await w.waitFor(isGateway((s) => s.name === 'edge' && s.exists));
      await w.waitFor(isGateway((s) => s.namespace === 'infra' && s.name === 'other' && !s.exists));
      assert.equal((await w.update([], ['Gateway/edge'])).status, 204);
      const mark = w.events.length;
      assert.equal((await call(cp.url, 'PUT', '/v1/resources', route('late', [{ kind: 'Gateway', name: 'edge' }]))).status, 200);
      // The other gateway is still followed; a change to it arrives after anything edge would have sent.
      assert.equal((await call(cp.url, 'PUT', '/v1/resources', { ...EDGE, metadata: { name: 'other', namespace: 'infra' } })).status, 200);
      await w.waitFor(
        isGateway((s) => s.name === 'other' && s.exists),
        10_000,
        mark,
      );
      assert.equal(w.events.slice(mark).filter(isGateway((s) => s.name === 'edge')).length, 0, 'an unfollowed gateway sends nothing');

      const bad = await call<ErrorResponse['body']>(cp.url, 'POST', `/v1/watch/${w.hello.streamId}`, { add: ['Gateway/Bad/x', 'Gateway/a/b/c'] });
      assert.equal(bad.status, 400, bad.text);
      assert.deepEqual(
        bad.body.error.issues?.map((i) => i.path),
        ['add[0]', 'add[1]'],
      );
      assert.match(bad.body.error.issues![0]!.message, /not a gateway reference: use "Gateway\/<name>" or "Gateway\/<namespace>\/<name>"/);
    } finally {
      await w.close();
    }
  });
});
