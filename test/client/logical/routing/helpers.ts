/** Routes and calls for unit tests of the routing layer (no network). */
import { routeResourceSchema, type RouteResource } from '../../../../src/config/resources.js';
import { MeshCall } from '../../../../src/client/call/mesh-call.js';
import { Destination } from '../../../../src/client/destination.js';
import type { WatchCache } from '../../../../src/discovery/watch-cache.js';
import { compileRoutes, type RouteTable } from '../../../../src/client/logical/routing/route-table.js';
import { MirrorSender } from '../../../../src/client/logical/routing/mirror.js';
import type { Dispatcher } from 'undici';

/** A destination that never hears from discovery: enough to compile routes against. */
export function idleDestination(name = 'api', namespace = 'default'): Destination {
  const cache = { subscribe: () => () => {} } as unknown as WatchCache;
  return new Destination({ namespace, name }, { cache, discoveryTimeoutMs: 1000 });
}

export function route(name: string, rules: unknown[], namespace = 'default'): RouteResource {
  return routeResourceSchema.parse({ apiVersion: 'hyphae.dev/v1', kind: 'Route', metadata: { name, namespace }, spec: { parentRefs: [{ name: 'api' }], rules } });
}

/** A rule that sends to subset `to` (its name is the rule name, for assertions). */
export function rule(name: string, matches?: unknown[], to = 'v1'): unknown {
  return matches === undefined ? { name, backendRefs: [{ name: 'api', subset: to }] } : { name, matches, backendRefs: [{ name: 'api', subset: to }] };
}

export function compile(routes: RouteResource[], warnings: string[] = []): RouteTable {
  const parent = idleDestination();
  return compileRoutes(routes, {
    parent,
    destination: (ns, n) => idleDestination(n, ns),
    mirror: new MirrorSender(),
    warn: (m) => warnings.push(m),
  });
}

export function callOf(path: string, opts: Partial<Dispatcher.DispatchOptions> = {}): MeshCall {
  return new MeshCall(idleDestination(), { origin: 'http://api', method: 'GET', path, ...opts }, {});
}

/** The name of the rule a request matches, or undefined. */
export function matched(table: RouteTable, path: string, opts: Partial<Dispatcher.DispatchOptions> = {}): string | undefined {
  return table.match(callOf(path, opts))?.rule.name;
}
