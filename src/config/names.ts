import { z } from 'zod';
import { DNS_LABEL, DNS_LABEL_MAX, DNS_LABEL_MESSAGE } from './dns-label.js';

/** DNS-label names (RFC 1123), as Kubernetes uses for services and namespaces. */
export const nameSchema = z.string().min(1).max(DNS_LABEL_MAX).regex(DNS_LABEL, DNS_LABEL_MESSAGE);

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
