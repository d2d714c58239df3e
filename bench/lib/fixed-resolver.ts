/**
 * A resolver (the public interface) that gives one service one fixed endpoint, which may carry a
 * `cluster` (an instance imported from a peer cluster: its calls send the mesh SNI). For benches that
 * point the same service at another front per row (bench/mesh-gateway.ts).
 */
import type { Disposer } from '../../src/core/events.js';
import type { EndpointInfo, Resolver, ResolverUpdate, ServiceKey } from '../../src/discovery/resolver.js';

export function fixedResolver(service: string, endpoint: { address: string; port: number; cluster?: string }): Resolver {
  const info: EndpointInfo & { cluster?: string } = { id: `${endpoint.address}:${endpoint.port}`, address: endpoint.address, port: endpoint.port, labels: {}, weight: 1 };
  if (endpoint.cluster) info.cluster = endpoint.cluster;
  return {
    watch(key: ServiceKey, listener: (u: ResolverUpdate) => void): Disposer {
      queueMicrotask(() => listener(key.name === service ? { type: 'reset', endpoints: [info], mtlsMode: 'STRICT' } : { type: 'not-found' }));
      return () => {};
    },
    close: async () => {},
  };
}
