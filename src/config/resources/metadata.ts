import { z } from 'zod';
import { labelsSchema, nameSchema, DEFAULT_NAMESPACE } from '../names.js';

export const API_VERSION = 'hyphae.dev/v1';

export const metadataSchema = z.strictObject({
  name: nameSchema,
  namespace: nameSchema.default(DEFAULT_NAMESPACE),
  labels: labelsSchema.optional(),
});

/** A reference to a service, in the resource's namespace unless given. */
export const serviceRefSchema = z.strictObject({
  name: nameSchema,
  namespace: nameSchema.optional(),
});

export const httpMethodSchema = z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

export const headerNameSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a valid HTTP header name')
  .transform((s) => s.toLowerCase());
