import { z } from 'zod';

/** DNS-label names (RFC 1123), as Kubernetes uses for services and namespaces. */
export const nameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lower-case DNS label: a-z, 0-9 and "-", starting and ending with a letter or digit');

/** Label rules (Kubernetes' syntax, at most 64 per instance) live in ./labels.ts; re-exported for the schemas that use them. */
export { labelKeySchema, labelValueSchema, labelsSchema } from './labels.js';

export const addressSchema = z.union([z.ipv4(), z.ipv6(), z.hostname()], { error: 'must be an IPv4 or IPv6 address or a host name' });

export const DEFAULT_NAMESPACE = 'default';

/**
 * A cluster's name (issue 17): one per control plane (`--cluster`), a DNS label like a service's, since it
 * is one label of the SNI name a mesh gateway routes by (config/mesh-sni.ts).
 */
export const clusterNameSchema = nameSchema;
export const DEFAULT_CLUSTER = 'default';
