import type { ServiceSnapshot } from '../../src/config/wire.js';

/** A valid service snapshot as the control plane sends it, with instances on 127.0.0.1. */
export function snapshot(name: string, ports: number[], version = 1, extra: Partial<ServiceSnapshot> = {}): ServiceSnapshot {
  return {
    name,
    namespace: 'default',
    version,
    exists: true,
    instances: ports.map((port) => ({ id: `127.0.0.1:${port}`, service: name, namespace: 'default', address: '127.0.0.1', port, labels: { zone: 'a' }, weight: 1 })),
    config: null,
    routes: [],
    policies: [],
    mtlsMode: null,
    ...extra,
  };
}
