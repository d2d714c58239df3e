/**
 * Every kind of resource the control plane stores, told apart by `kind`.
 * Each kind has its own file under ./resources.
 */
import { z } from 'zod';
import { serviceResourceSchema, type ServiceResource } from './resources/service.js';
import { routeResourceSchema, type RouteResource } from './resources/route.js';
import { authorizationPolicyResourceSchema, type AuthorizationPolicyResource } from './resources/authorization-policy.js';
import { peerAuthenticationResourceSchema, type PeerAuthenticationResource } from './resources/peer-authentication.js';
import { gatewayResourceSchema, type GatewayResource } from './resources/gateway.js';
import { serviceExportResourceSchema, type ServiceExportResource } from './resources/service-export.js';

export * from './resources/metadata.js';
export * from './resources/traffic.js';
export * from './resources/resilience.js';
export * from './resources/service.js';
export * from './resources/route.js';
export * from './resources/authorization-policy.js';
export * from './resources/peer-authentication.js';
export * from './resources/gateway.js';
export * from './resources/service-export.js';

export const resourceSchema = z.discriminatedUnion('kind', [
  serviceResourceSchema,
  routeResourceSchema,
  authorizationPolicyResourceSchema,
  peerAuthenticationResourceSchema,
  gatewayResourceSchema,
  serviceExportResourceSchema,
]);

export type Resource = z.output<typeof resourceSchema>;
export type ResourceInput = z.input<typeof resourceSchema>;
export type ResourceKind = Resource['kind'];
export type ResourceOfKind<K extends ResourceKind> = Extract<Resource, { kind: K }>;
export type { ServiceResource, RouteResource, AuthorizationPolicyResource, PeerAuthenticationResource, GatewayResource, ServiceExportResource };

export { resourceKinds } from './resource-kinds.js';
export { defaultRuleName } from './rule-name.js';

/** A stored resource, with the revision at which it last changed (for compare-and-swap and for diffs). */
export interface StoredResource<R extends Resource = Resource> {
  resource: R;
  revision: number;
}

export function resourceKey(r: { kind: string; metadata: { name: string; namespace: string } }): string {
  return `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
}
