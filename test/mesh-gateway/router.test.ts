/**
 * The mesh gateway's router as one layer (its discovery a resolver the test sets, its clock a counter):
 * which names it refuses, least connections with round-robin ties, an instance that failed skipped for a
 * while and taken again when nothing else is left, a service followed only while it exists.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WatchCache } from '../../src/discovery/watch-cache.js';
import { MeshGatewayRouter, ServiceBackends, type Backend } from '../../src/mesh-gateway/router.js';
import { EndpointResolver } from './endpoint-resolver.js';

const API = { namespace: 'default', name: 'api' };

function setup() {
  let now = 1_000;
  const resolver = new EndpointResolver();
  const router = new MeshGatewayRouter({ cluster: 'dc2', watch: new WatchCache(resolver), maxServices: 8, discoveryTimeoutMs: 5_000, downMs: 100, now: () => now });
  return { resolver, router, advance: (ms: number) => (now += ms) };
}

async function backends(router: MeshGatewayRouter, name = 'api.default.dc2.hyphae'): Promise<ServiceBackends> {
  const r = await router.route(name);
  assert.ok(r instanceof ServiceBackends, `routed: ${String(r)}`);
  return r;
}

describe('MeshGatewayRouter', () => {
  it('refuses names that are not mesh names, of another cluster, of unknown services, or with no local instance', async () => {
    const { resolver, router } = setup();
    resolver.set(API, [{ address: '10.0.0.1', port: 1, cluster: 'dc1' }]);
    assert.equal(await router.route('api.example.com'), 'not-mesh-sni');
    assert.equal(await router.route('api.default.dc1.hyphae'), 'other-cluster');
    assert.equal(await router.route('ghost.default.dc2.hyphae'), 'unknown-service');
    assert.equal(await router.route('API.Default.DC2.hyphae'), 'no-instances', 'case-insensitive, and the imported instance is not one');
    router.close();
  });

  it('says discovery-timeout when the first state does not come in time', async () => {
    const never = new MeshGatewayRouter({ cluster: 'dc2', watch: { subscribe: () => () => {} }, maxServices: 8, discoveryTimeoutMs: 50, downMs: 100 });
    assert.equal(await never.route('api.default.dc2.hyphae'), 'discovery-timeout');
    never.close();
  });

  it('picks the least loaded, round robin among equals', async () => {
    const { resolver, router } = setup();
    resolver.set(API, [
      { address: '10.0.0.1', port: 1 },
      { address: '10.0.0.2', port: 1 },
      { address: '10.0.0.3', port: 1 },
    ]);
    const s = await backends(router);
    const none = new Set<Backend>();
    const firstRound = [s.pick(none)!, s.pick(none)!, s.pick(none)!].map((b) => b.address);
    assert.equal(new Set(firstRound).size, 3, `round robin over equals: ${firstRound}`);
    s.backends[0]!.active = 5;
    s.backends[1]!.active = 1;
    s.backends[2]!.active = 2;
    for (let i = 0; i < 4; i++) assert.equal(s.pick(none)!.address, '10.0.0.2');
    // Counts survive a discovery update that keeps the instance.
    resolver.set(API, [
      { address: '10.0.0.2', port: 1 },
      { address: '10.0.0.4', port: 1 },
    ]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      s.backends.map((b) => [b.address, b.active]),
      [
        ['10.0.0.2', 1],
        ['10.0.0.4', 0],
      ],
    );
    router.close();
  });

  it('skips an instance marked down until downMs passed, unless every untried one is down', async () => {
    const { resolver, router, advance } = setup();
    resolver.set(API, [
      { address: '10.0.0.1', port: 1 },
      { address: '10.0.0.2', port: 1 },
    ]);
    const s = await backends(router);
    const [a, b] = s.backends as [Backend, Backend];
    s.markDown(a, 100);
    for (let i = 0; i < 4; i++) assert.equal(s.pick(new Set()), b);
    // Only the down one left untried: taken rather than nothing (panic, as a balancer does).
    assert.equal(s.pick(new Set([b])), a);
    assert.equal(s.pick(new Set([a, b])), undefined);
    advance(101);
    const picked = new Set([s.pick(new Set()), s.pick(new Set())]);
    assert.equal(picked.size, 2, 'back in the rotation');
    router.close();
  });

  it('does not keep following a service that does not exist', async () => {
    const { resolver, router } = setup();
    assert.equal(await router.route('ghost.default.dc2.hyphae'), 'unknown-service');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(router.size, 0);
    const watches = resolver.watches;
    assert.equal(await router.route('ghost.default.dc2.hyphae'), 'unknown-service');
    assert.equal(resolver.watches, watches + 1, 'asked again, not answered from a kept entry');
    router.close();
  });
});
