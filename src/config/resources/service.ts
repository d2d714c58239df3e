import { z } from 'zod';
import { API_VERSION, metadataSchema } from './metadata.js';
import { resolvedTrafficShape, trafficSpecShape } from './traffic.js';
import { resilienceSpecShape, resolvedResilienceShape } from './resilience.js';

/**
 * Per-destination defaults: what every caller of this service applies, unless a Route rule overrides it.
 * This is the shape the control plane stores and sends (`config` of a watch snapshot): absent sub-objects
 * stay absent, so documents and snapshots look as they did before issue 15, both ways.
 */
export const serviceSpecSchema = z.strictObject({
  ...trafficSpecShape,
  ...resilienceSpecShape,
  /**
   * The wire protocol callers use (issue 18): `auto` (HTTP/2 when the server agrees over mTLS, HTTP/1.1
   * otherwise), `http1`, or `h2` (over plaintext: h2c with prior knowledge). Absent stays absent when stored:
   * a client older than this field (its schema is strict) reads every Service that does not set it.
   */
  protocol: z.enum(['auto', 'http1', 'h2']).optional(),
});

/**
 * The spec as a client applies it: every sub-object present and complete. Parsed from a stored spec (whose
 * fields were validated and defaulted when it was applied) or from `{}` when the service has no Service
 * resource, so "no spec", "no retryBudget" and "a retryBudget with only `window`" get the same defaults.
 */
export const resolvedServiceSpecSchema = z.strictObject({
  ...resolvedTrafficShape,
  ...resolvedResilienceShape,
  protocol: serviceSpecSchema.shape.protocol.unwrap().default('auto'),
});

export const serviceResourceSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Service'),
  metadata: metadataSchema,
  spec: serviceSpecSchema.default(() => serviceSpecSchema.parse({})),
});

export type ServiceSpec = z.output<typeof serviceSpecSchema>;
export type ResolvedServiceSpec = z.output<typeof resolvedServiceSpecSchema>;
export type ServiceResource = z.output<typeof serviceResourceSchema>;

let noSpec: ResolvedServiceSpec | undefined;

/**
 * What a client applies to a destination whose Service spec is `spec` (null: no Service resource, or a
 * control plane that sent none). Runs when the spec changes, never per request. The answer for "no spec"
 * is parsed once and frozen, since every destination without a Service resource shares it.
 */
export function resolveServiceSpec(spec: ServiceSpec | null | undefined): ResolvedServiceSpec {
  if (spec == null) return (noSpec ??= deepFreeze(resolvedServiceSpecSchema.parse({})));
  return resolvedServiceSpecSchema.parse(spec);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
