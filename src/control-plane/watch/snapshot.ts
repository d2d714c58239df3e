/** What a watcher receives for one service (instances, config, routes, policies, whether it exists) or one gateway. */
import type { GatewaySnapshot, ServiceSnapshot } from '../../config/wire.js';
import type { Instance } from '../../config/instance.js';
import type { GatewayResource, ServiceResource } from '../../config/resources.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import type { ConfigIndex } from './config-index.js';
import type { ServiceVersions } from './service-versions.js';

/** Services imported from peer clusters (../peering): their instances, each carrying its `cluster`. */
export interface Imported {
  instances(namespace: string, name: string): readonly Instance[];
  /** Whether a peer exports it, with or without instances now. */
  has(namespace: string, name: string): boolean;
}

const NO_IMPORTS: Imported = { instances: () => [], has: () => false };

export function snapshotBuilder(
  registry: Registry,
  store: Store,
  versions: ServiceVersions,
  index: ConfigIndex,
  hasCa: () => boolean,
  imported: Imported = NO_IMPORTS,
): (service: string) => ServiceSnapshot {
  return (service) => {
    const [namespace, name] = service.split('/') as [string, string];
    const stored = store.get({ kind: 'Service', namespace, name });
    const config = stored ? (stored.resource as ServiceResource).spec : null;
    const local = registry.instances(namespace, name);
    const peers = imported.instances(namespace, name);
    return {
      name,
      namespace,
      // A resource applied before a restart keeps the revision it was stored at.
      version: Math.max(versions.of(service), stored?.revision ?? 0),
      exists: stored !== undefined || registry.hasSeen(namespace, name) || imported.has(namespace, name),
      // Local first: a client that knows no `cluster` field never sees one unless a peer's instances are here.
      instances: peers.length === 0 ? local : [...local, ...peers],
      config,
      routes: index.routesFor(service),
      policies: index.policiesFor(service),
      mtlsMode: index.mtlsModeFor(service, hasCa()),
    };
  };
}

/** A gateway's snapshot, for its watch key `Gateway/namespace/name`: its spec and the routes attached to it. */
export function gatewaySnapshotBuilder(store: Store, versions: ServiceVersions, index: ConfigIndex): (key: string) => GatewaySnapshot {
  return (key) => {
    const [, namespace, name] = key.split('/') as [string, string, string];
    const stored = store.get({ kind: 'Gateway', namespace, name });
    return {
      name,
      namespace,
      version: Math.max(versions.of(key), stored?.revision ?? 0),
      exists: stored !== undefined,
      config: stored ? (stored.resource as GatewayResource).spec : null,
      routes: index.routesForGateway(key),
    };
  };
}
