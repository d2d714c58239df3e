import { z } from 'zod';
import { addressSchema, clusterNameSchema, labelsSchema, nameSchema, DEFAULT_NAMESPACE } from './names.js';

export const MIN_TTL_SECONDS = 1;
export const MAX_TTL_SECONDS = 300;
export const DEFAULT_TTL_SECONDS = 10;

/** POST /v1/instances */
export const registerRequestSchema = z.strictObject({
  service: nameSchema,
  namespace: nameSchema.default(DEFAULT_NAMESPACE),
  address: addressSchema,
  port: z.int().min(1).max(65535),
  labels: labelsSchema.default({}),
  /** Relative share of traffic (Envoy's load_balancing_weight). */
  weight: z.int().min(1).max(1000).default(1),
  ttlSeconds: z.number().min(MIN_TTL_SECONDS).max(MAX_TTL_SECONDS).optional(),
});
export type RegisterRequest = z.input<typeof registerRequestSchema>;
export type ValidRegisterRequest = z.output<typeof registerRequestSchema>;

/** An instance as watchers see it. The lease id is a capability and never appears here. */
export const instanceSchema = z.strictObject({
  id: z.string(),
  service: nameSchema,
  namespace: nameSchema,
  address: addressSchema,
  port: z.int().min(1).max(65535),
  labels: labelsSchema,
  weight: z.int().min(1).max(1000),
  /**
   * The cluster the instance runs in, set only on instances imported from a peer cluster (issue 17).
   * Absent: the cluster of the control plane that sent it. Local instances never carry it, so a client
   * older than this field (whose schema is strict) reads a control plane's snapshots as before unless the
   * mesh imports services from a peer.
   */
  cluster: clusterNameSchema.optional(),
});
export type Instance = z.output<typeof instanceSchema>;

export const registerResponseSchema = z.strictObject({
  leaseId: z.string(),
  ttlSeconds: z.number(),
  instance: instanceSchema,
});
export type RegisterResponse = z.output<typeof registerResponseSchema>;

export function instanceId(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
