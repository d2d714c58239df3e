import { z } from 'zod';
import { labelsSchema, nameSchema, DEFAULT_NAMESPACE } from './names.js';

export const API_VERSION = 'hyphae.dev/v1';

export const metadataSchema = z.strictObject({
  name: nameSchema,
  namespace: nameSchema.default(DEFAULT_NAMESPACE),
  labels: labelsSchema.optional(),
});

export const loadBalancerSchema = z.enum(['round_robin']);

/** Per-destination defaults. Later issues add balancers, subsets, retries, outlier detection and limits here. */
export const serviceSpecSchema = z.strictObject({
  loadBalancer: loadBalancerSchema.default('round_robin'),
});

export const serviceResourceSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Service'),
  metadata: metadataSchema,
  spec: serviceSpecSchema.default({ loadBalancer: 'round_robin' }),
});

/** Every kind the control plane stores, told apart by `kind`. */
export const resourceSchema = z.discriminatedUnion('kind', [serviceResourceSchema]);

export type Resource = z.output<typeof resourceSchema>;
export type ResourceInput = z.input<typeof resourceSchema>;
export type ServiceResource = z.output<typeof serviceResourceSchema>;
export type ServiceSpec = z.output<typeof serviceSpecSchema>;
export type ResourceKind = Resource['kind'];

export const resourceKinds: readonly ResourceKind[] = ['Service'];

/** A stored resource, with the revision at which it last changed (for compare-and-swap and for diffs). */
export interface StoredResource<R extends Resource = Resource> {
  resource: R;
  revision: number;
}

export function resourceKey(r: { kind: string; metadata: { name: string; namespace: string } }): string {
  return `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
}
