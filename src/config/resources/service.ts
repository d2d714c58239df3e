import { z } from 'zod';
import { API_VERSION, metadataSchema } from './metadata.js';
import { trafficSpecShape } from './traffic.js';
import { resilienceSpecShape } from './resilience.js';

/** Per-destination defaults: what every caller of this service applies, unless a Route rule overrides it. */
export const serviceSpecSchema = z.strictObject({
  ...trafficSpecShape,
  ...resilienceSpecShape,
});

export const serviceResourceSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Service'),
  metadata: metadataSchema,
  spec: serviceSpecSchema.default(() => serviceSpecSchema.parse({})),
});

export type ServiceSpec = z.output<typeof serviceSpecSchema>;
export type ServiceResource = z.output<typeof serviceResourceSchema>;
