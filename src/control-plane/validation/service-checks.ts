/** What a Service must satisfy beyond its schema, and what routes need of it. */
import type { ServiceResource } from '../../config/resources.js';
import type { ValidationIssue } from '../../config/validate.js';
import type { World } from './world.js';

export function checkService(service: ServiceResource, at: string, world: World): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const spec = service.spec;
  const first = new Map<string, number>();
  (spec.subsets ?? []).forEach((s, i) => {
    const k = first.get(s.name);
    if (k !== undefined) issues.push({ path: `${at}spec.subsets[${i}].name`, message: `duplicate subset name "${s.name}" (also spec.subsets[${k}])` });
    else first.set(s.name, i);
  });
  if (spec.loadBalancer === 'ring_hash' && spec.ringHash === undefined) {
    issues.push({ path: `${at}spec.ringHash`, message: 'required when loadBalancer is ring_hash: the header or cookie whose value is hashed' });
  }
  issues.push(...subsetsInUse(service.metadata.namespace, service.metadata.name, new Set(first.keys()), `${at}spec.subsets`, world));
  return issues;
}

/**
 * Stored routes (not part of this batch, which is checked on its own) that
 * send to subsets `defined` does not have: removing a subset under a route
 * would break it silently, so the route must change first.
 */
export function subsetsInUse(namespace: string, name: string, defined: ReadonlySet<string>, path: string, world: World): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const { resource: route, at } of world.routes()) {
    if (at !== undefined) continue;
    const rns = route.metadata.namespace;
    route.spec.rules.forEach((rule, r) => {
      const refs = [
        ...rule.backendRefs.map((b, k) => ({ ref: b, where: `spec.rules[${r}].backendRefs[${k}]` })),
        ...(rule.filters ?? []).flatMap((f, k) => (f.type === 'RequestMirror' ? [{ ref: f.requestMirror.backendRef, where: `spec.rules[${r}].filters[${k}]` }] : [])),
      ];
      for (const { ref, where } of refs) {
        if (ref.subset === undefined || (ref.namespace ?? rns) !== namespace || ref.name !== name || defined.has(ref.subset)) continue;
        issues.push({
          path,
          message: `subset "${ref.subset}" is used by Route ${rns}/${route.metadata.name} (${where}); change or delete the route first`,
        });
      }
    });
  }
  return issues;
}
