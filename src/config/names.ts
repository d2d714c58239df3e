import { z } from 'zod';

/** DNS-label names (RFC 1123), as Kubernetes uses for services and namespaces. */
export const nameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lower-case DNS label: a-z, 0-9 and "-", starting and ending with a letter or digit');

export const labelKeySchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/, 'must be letters, digits, "-", "_", "." or "/", starting and ending with a letter or digit');

export const labelValueSchema = z.string().max(63).regex(/^[A-Za-z0-9._-]*$/, 'must be letters, digits, "-", "_" or "."');

export const labelsSchema = z.record(labelKeySchema, labelValueSchema);

export const addressSchema = z.union([z.ipv4(), z.ipv6(), z.hostname()], { error: 'must be an IPv4 or IPv6 address or a host name' });

export const DEFAULT_NAMESPACE = 'default';
