/**
 * What semantic validation checks a batch against: the configuration as it
 * would be after the batch (the store overlaid with the batch), and what the
 * registry knows of instances. Built per apply; applies are rare.
 */
import type { Instance } from '../../config/instance.js';
import type { GatewayResource, Resource, RouteResource, ServiceResource } from '../../config/resources.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import { idOf, keyOf } from '../store/store.js';

export interface Located<R extends Resource = Resource> {
  resource: R;
  /** Where issues about it are reported: `items[2].` in a list, `` for a single resource, undefined when stored (not in the batch). */
  at: string | undefined;
}

export interface World {
  /** The Service resource after the batch. */
  service(namespace: string, name: string): ServiceResource | undefined;
  /** Known: a Service resource after the batch, or an instance registered since the control plane started. */
  known(namespace: string, name: string): boolean;
  instances(namespace: string, name: string): Instance[];
  /** Every Route after the batch. */
  routes(): Located<RouteResource>[];
  /** The Gateway resource after the batch. */
  gateway(namespace: string, name: string): GatewayResource | undefined;
}

export function worldAfter(store: Store, registry: Registry, batch: readonly Located[], removed: readonly string[] = []): World {
  const merged = new Map<string, Located>();
  for (const { resource } of store.list()) merged.set(keyOf(idOf(resource)), { resource, at: undefined });
  for (const key of removed) merged.delete(key);
  for (const item of batch) merged.set(keyOf(idOf(item.resource)), item);
  const service = (namespace: string, name: string) => merged.get(`Service/${namespace}/${name}`)?.resource as ServiceResource | undefined;
  return {
    service,
    known: (namespace, name) => service(namespace, name) !== undefined || registry.hasSeen(namespace, name),
    instances: (namespace, name) => registry.instances(namespace, name),
    routes: () => [...merged.values()].filter((l): l is Located<RouteResource> => l.resource.kind === 'Route'),
    gateway: (namespace, name) => merged.get(`Gateway/${namespace}/${name}`)?.resource as GatewayResource | undefined,
  };
}
