/**
 * GatewayRouting, one layer with a fake compiler: the listener by port and
 * SNI/Host, and the hostname tiers a Host gets (exact, then the wildcards
 * covering it, longest first, then the routes naming no hostname), each a
 * table of its own, so a less specific tier is tried only when no rule of a
 * more specific one matches.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteResource } from '../../src/config/resources.js';
import { gatewaySpecSchema } from '../../src/config/resources/gateway.js';
import { routeResourceSchema } from '../../src/config/resources/route.js';
import { PARENT_ROUTES } from '../../src/client/logical/routing/route-layer.js';
import type { RouteTable } from '../../src/client/logical/routing/route-table.js';
import type { EdgeRoutes } from '../../src/mesh/edge-routes.js';
import { RateLimitBuckets } from '../../src/client/logical/routing/rate-limit.js';
import { GatewayRouting } from '../../src/gateway/routing.js';

const spec = gatewaySpecSchema.parse({
  listeners: [
    { name: 'web', port: 80, protocol: 'HTTP' },
    { name: 'tls-a', port: 443, protocol: 'HTTPS', hostname: 'a.example.com', tls: { certificateFile: '/a.crt', keyFile: '/a.key' } },
    { name: 'tls-any', port: 443, protocol: 'HTTPS', tls: { certificateFile: '/x.crt', keyFile: '/x.key' } },
  ],
});

function route(name: string, hostnames: string[] | undefined, backend: string): RouteResource {
  return routeResourceSchema.parse({
    apiVersion: 'hyphae.dev/v1',
    kind: 'Route',
    metadata: { name, namespace: 'default' },
    spec: { parentRefs: [{ kind: 'Gateway', name: 'edge', sectionName: 'web' }], ...(hostnames ? { hostnames } : {}), rules: [{ backendRefs: [{ name: backend }] }] },
  });
}

/** What the fake edge was asked to count: the rules' names at each call (the edge stats' useRoutes). */
const counted: string[][] = [];

/** Stands for compileRoutes: a "table" that lists its routes' names, each route one "rule". */
const fakeEdge = {
  compile: (routes: readonly RouteResource[]) => ({ names: routes.map((r) => r.metadata.name), rules: routes.map((r) => ({ name: r.metadata.name })) }) as unknown as RouteTable,
  buckets: () => new RateLimitBuckets(),
  count: (_parent: unknown, _tables: unknown, rules: Iterable<{ name: string }>) => counted.push([...rules].map((r) => r.name)),
} as unknown as EdgeRoutes;

function tiersFor(routing: GatewayRouting, port: number, sni: string | undefined, host: string): string[][] | undefined {
  const r = routing.resolve(port, sni, host)?.routes;
  return r?.options[PARENT_ROUTES].map((t) => (t as unknown as { names: string[] }).names);
}

describe('GatewayRouting', () => {
  const routing = new GatewayRouting(
    { namespace: 'default', name: 'edge' },
    spec,
    [route('exact', ['a.example.com'], 'exact-svc'), route('wild', ['*.example.com'], 'wild-svc'), route('deeper', ['*.b.example.com'], 'deep-svc'), route('none', undefined, 'none-svc')],
    fakeEdge,
  );

  it('a Host gets its tiers in order: exact, wildcards longest first, then routes without hostnames', () => {
    assert.deepEqual(tiersFor(routing, 80, undefined, 'a.example.com'), [['exact'], ['wild'], ['none']]);
    assert.deepEqual(tiersFor(routing, 80, undefined, 'x.b.example.com:80'), [['deeper'], ['wild'], ['none']]);
    assert.deepEqual(tiersFor(routing, 80, undefined, 'other.org'), [['none']]);
    assert.equal(routing.resolve(80, undefined, 'A.Example.com.')?.routes?.service, 'exact-svc', 'Host compared without case and trailing dot');
  });

  it('the same Host entry is compiled once per snapshot', () => {
    const a = routing.resolve(80, undefined, 'a.example.com')?.routes;
    assert.ok(a);
    assert.equal(routing.resolve(80, undefined, 'a.example.com')?.routes, a);
  });

  it("each Host entry's compilation hands the edge stats every rule compiled so far for the snapshot, once", () => {
    counted.length = 0;
    const fresh = new GatewayRouting({ namespace: 'default', name: 'edge' }, spec, [route('exact', ['a.example.com'], 'e'), route('none', undefined, 'n')], fakeEdge);
    fresh.resolve(80, undefined, 'other.org');
    fresh.resolve(80, undefined, 'other.org');
    fresh.resolve(80, undefined, 'a.example.com');
    // The second Host entry adds its tiers' rules to the first's: a rule counted stays counted.
    assert.deepEqual(counted, [['none'], ['none', 'exact', 'none']]);
  });

  it('the listener on a shared HTTPS port is chosen by SNI, then by Host; an unknown port has none', () => {
    assert.equal(routing.resolve(443, 'a.example.com', 'whatever')?.listener.name, 'tls-a');
    assert.equal(routing.resolve(443, 'z.example.com', 'a.example.com')?.listener.name, 'tls-any');
    assert.equal(routing.resolve(443, undefined, 'a.example.com')?.listener.name, 'tls-a');
    assert.equal(routing.resolve(443, 'a.example.com', 'a.example.com')?.routes, undefined, 'no route attaches to tls-a: 404');
    assert.equal(routing.resolve(8080, undefined, 'a.example.com'), undefined);
  });
});
