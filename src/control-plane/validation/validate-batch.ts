/**
 * Semantic validation of an apply (or delete), after the schema: what zod
 * cannot see because it needs other resources or the registry. Every problem
 * is returned, each with its document and field path; nothing is stored
 * unless the list is empty (the previous config stays in force).
 */
import type { ValidationIssue } from '../../config/validate.js';
import type { Registry } from '../registry/registry.js';
import type { ResourceId, Store } from '../store/store.js';
import { keyOf } from '../store/store.js';
import { gatewayInUse } from './gateway-checks.js';
import { checkRoute } from './route-checks.js';
import { checkService, subsetsInUse } from './service-checks.js';
import { worldAfter, type Located } from './world.js';

export function validateBatch(store: Store, registry: Registry, batch: readonly Located[]): ValidationIssue[] {
  const world = worldAfter(store, registry, batch);
  const issues: ValidationIssue[] = [];
  for (const { resource, at } of batch) {
    const prefix = at ?? '';
    if (resource.kind === 'Route') issues.push(...checkRoute(resource, prefix, world));
    else if (resource.kind === 'Service') issues.push(...checkService(resource, prefix, world));
    else if (resource.kind === 'Gateway') {
      const { namespace, name } = resource.metadata;
      issues.push(...gatewayInUse(namespace, name, resource, `${prefix}spec.listeners`, world));
    }
  }
  return issues;
}

/** A Service may not be deleted while a stored route sends to one of its subsets, nor a Gateway while routes attach to it. */
export function validateDelete(store: Store, registry: Registry, id: ResourceId): ValidationIssue[] {
  if (id.kind !== 'Service' && id.kind !== 'Gateway') return [];
  const world = worldAfter(store, registry, [], [keyOf(id)]);
  if (id.kind === 'Gateway') return gatewayInUse(id.namespace, id.name, undefined, 'metadata.name', world);
  return subsetsInUse(id.namespace, id.name, new Set(), 'spec.subsets', world);
}
