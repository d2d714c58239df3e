/** What a watcher receives for one service: instances, config, routes, policies, and whether it exists at all. */
import type { ServiceSnapshot } from '../../config/wire.js';
import type { ServiceResource } from '../../config/resources.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import type { ConfigIndex } from './config-index.js';
import type { ServiceVersions } from './service-versions.js';

export function snapshotBuilder(registry: Registry, store: Store, versions: ServiceVersions, index: ConfigIndex, hasCa: () => boolean): (service: string) => ServiceSnapshot {
  return (service) => {
    const [namespace, name] = service.split('/') as [string, string];
    const stored = store.get({ kind: 'Service', namespace, name });
    const config = stored ? (stored.resource as ServiceResource).spec : null;
    return {
      name,
      namespace,
      // A resource applied before a restart keeps the revision it was stored at.
      version: Math.max(versions.of(service), stored?.revision ?? 0),
      exists: stored !== undefined || registry.hasSeen(namespace, name),
      instances: registry.instances(namespace, name),
      config,
      routes: index.routesFor(service),
      policies: index.policiesFor(service),
      mtlsMode: index.mtlsModeFor(service, hasCa()),
    };
  };
}
