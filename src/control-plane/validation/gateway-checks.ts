/**
 * Routes on Gateways (issue 16): the Gateway API's attachment rules, checked
 * both ways. A Route in a batch must attach to what its Gateway parents offer;
 * a Gateway in a batch (or deleted) must not strand the stored Routes attached
 * to it, since a route that no longer attaches would stop serving silently.
 */
import type { GatewayResource, RouteResource } from '../../config/resources.js';
import { effectiveHostnames } from '../../config/hostnames.js';
import type { ValidationIssue } from '../../config/validate.js';
import type { World } from './world.js';

interface Problem {
  /** Below the route (`spec.parentRefs[0].sectionName`, `spec.hostnames`). */
  path: string;
  message: string;
}

/** Why parentRefs[k] of `route` (a Gateway parent) does not attach to `gateway`; empty when it does. */
export function attachmentProblems(route: RouteResource, k: number, gateway: GatewayResource): Problem[] {
  const ref = route.spec.parentRefs[k]!;
  const gw = `${gateway.metadata.namespace}/${gateway.metadata.name}`;
  const listeners = gateway.spec.listeners;
  let candidates = listeners;
  if (ref.sectionName !== undefined) {
    candidates = listeners.filter((l) => l.name === ref.sectionName);
    if (candidates.length === 0) {
      return [{ path: `spec.parentRefs[${k}].sectionName`, message: `Gateway ${gw} has no listener "${ref.sectionName}" (it has ${listeners.map((l) => l.name).join(', ')})` }];
    }
  }
  if (route.metadata.namespace !== gateway.metadata.namespace) {
    candidates = candidates.filter((l) => l.allowedRoutes.namespaces.from === 'All');
    if (candidates.length === 0) {
      return [
        {
          path: `spec.parentRefs[${k}]`,
          message: `Gateway ${gw} takes Routes from its own namespace only (allowedRoutes.namespaces.from: Same${ref.sectionName ? ` on listener "${ref.sectionName}"` : ''}), and this route is in namespace ${route.metadata.namespace}`,
        },
      ];
    }
  }
  const hostnames = route.spec.hostnames;
  if (hostnames !== undefined && !candidates.some((l) => effectiveHostnames(l.hostname, hostnames) !== undefined)) {
    const offered = candidates.map((l) => `"${l.name}" (${l.hostname ?? 'any hostname'})`).join(', ');
    return [{ path: 'spec.hostnames', message: `no hostname of the route intersects a hostname of Gateway ${gw}'s listener${candidates.length > 1 ? 's' : ''} ${offered}` }];
  }
  return [];
}

/** A Route's Gateway parent: the Gateway must exist after the batch, and the route must attach to it. */
export function checkGatewayParent(route: RouteResource, k: number, world: World, issue: (path: string, message: string) => void): void {
  const ref = route.spec.parentRefs[k]!;
  const namespace = ref.namespace ?? route.metadata.namespace;
  const gateway = world.gateway(namespace, ref.name);
  if (!gateway) {
    issue(`spec.parentRefs[${k}].name`, `unknown gateway ${namespace}/${ref.name}: there is no Gateway resource for it`);
    return;
  }
  for (const p of attachmentProblems(route, k, gateway)) issue(p.path, p.message);
}

/**
 * Stored routes (not in this batch: those are checked on their own, against the Gateway as it will
 * be) attached to `namespace/name` that would no longer attach to `gateway` (undefined: deleted).
 */
export function gatewayInUse(namespace: string, name: string, gateway: GatewayResource | undefined, path: string, world: World): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const { resource: route, at } of world.routes()) {
    if (at !== undefined) continue;
    const rns = route.metadata.namespace;
    route.spec.parentRefs.forEach((ref, k) => {
      if (ref.kind !== 'Gateway' || ref.name !== name || (ref.namespace ?? rns) !== namespace) return;
      const which = `Route ${rns}/${route.metadata.name} (spec.parentRefs[${k}])`;
      if (!gateway) {
        issues.push({ path, message: `${which} is attached to this Gateway; delete the route or change its parentRefs first` });
        return;
      }
      for (const p of attachmentProblems(route, k, gateway)) issues.push({ path, message: `${which} would no longer attach: ${p.message}; change or delete the route first` });
    });
  }
  return issues;
}
