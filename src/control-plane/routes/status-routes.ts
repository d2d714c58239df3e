/** Health and the service overview. */
import { PACKAGE_VERSION } from '../../core/version.js';
import type { Route } from '../http/router.js';
import type { ApiDeps } from './deps.js';

export interface ServiceRow {
  namespace: string;
  name: string;
  instances: number;
  hasConfig: boolean;
}

/** Every service that exists: seen in the registry since start, or configured by a Service resource. */
export function serviceRows({ registry, store }: ApiDeps): ServiceRow[] {
  const rows = new Map<string, ServiceRow>();
  for (const s of registry.services()) rows.set(`${s.namespace}/${s.name}`, { ...s, hasConfig: false });
  for (const { resource } of store.list('Service')) {
    const { namespace, name } = resource.metadata;
    const key = `${namespace}/${name}`;
    const row = rows.get(key);
    if (row) row.hasConfig = true;
    else rows.set(key, { namespace, name, instances: 0, hasConfig: true });
  }
  return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}

export function statusRoutes(deps: ApiDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/health',
      // Load balancers and probes have no token.
      auth: 'none',
      // 503 while the store cannot be reached: a load balancer takes the replica out, and a client with other
      // control-plane addresses moves to one of them (it also moves on a 503 from any other call).
      handle: () => {
        const store = deps.store.health?.() ?? { ok: true, store: 'file' };
        return {
          status: store.ok ? 200 : 503,
          // version: `hyphae version` and `hyphae check` warn when the CLI and the control plane differ in minor or major.
          body: {
            status: store.ok ? 'ok' : 'unavailable',
            version: PACKAGE_VERSION,
            cluster: deps.cluster,
            revision: deps.store.revision(),
            services: serviceRows(deps).length,
            instances: deps.registry.size,
            store,
          },
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/services',
      auth: 'any',
      // cluster: the one every instance counted here runs in (also in the hyphae-cluster header of every answer).
      handle: () => ({ status: 200, body: { cluster: deps.cluster, services: serviceRows(deps) } }),
    },
  ];
}
