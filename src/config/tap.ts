/**
 * `hyphae tap` on the wire (issue 19): what the control plane tells the instances of a tapped service
 * (`event: tap` on their watch stream), what they send back (sample batches), and the bounds both sides
 * hold. Its own file, beside wire.ts, because every process parses the tap event but only the control
 * plane needs the batch schema: zod builds a schema's objects when the module loads.
 */
import { z } from 'zod';
import { MAX_TAP_BATCH, MAX_TAP_DURATION_MS, MAX_TAP_MAX_RPS, MAX_TAP_PATH, MAX_TAPS_PER_SERVICE } from './tap-limits.js';

export * from './tap-limits.js';

const methodSchema = z
  .string()
  .min(1)
  .max(16)
  .regex(/^[A-Z]+$/, 'must be an upper-case HTTP method');
const pathPrefixSchema = z
  .string()
  .min(1)
  .max(MAX_TAP_PATH)
  .regex(/^\/[\x21-\x7e]*$/, 'must start with "/" and hold printable ASCII only');

/** One tap as an instance sees it: whom to send samples to, how many, for which requests. */
export const tapSpecSchema = z.strictObject({
  id: z
    .string()
    .min(8)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/),
  maxRps: z.int().min(1).max(MAX_TAP_MAX_RPS),
  leaseMs: z.int().min(1000).max(MAX_TAP_DURATION_MS),
  pathPrefix: pathPrefixSchema.optional(),
  method: methodSchema.optional(),
});
export type TapSpec = z.output<typeof tapSpecSchema>;

/** `event: tap`: every tap of one service, whole ("state of the world"); an empty list turns tapping off. */
export const tapEventSchema = z.strictObject({
  service: z.string().min(3).max(127),
  taps: z.array(tapSpecSchema).max(MAX_TAPS_PER_SERVICE),
});
export type TapEvent = z.output<typeof tapEventSchema>;

/** One request an instance saw. Times in ms; `status` 0: the connection closed before the response was done. */
export const tapSampleSchema = z.strictObject({
  /** Wall clock at the request's start (epoch ms). */
  t: z.number().nonnegative().max(8.64e15),
  method: z.string().min(1).max(32),
  path: z.string().max(MAX_TAP_PATH),
  status: z.int().min(0).max(999),
  latencyMs: z.number().nonnegative().max(86_400_000),
  /** The caller's SPIFFE ID, verified by mTLS; absent for a plaintext caller. */
  src: z.string().max(2048).optional(),
  /** The route template the handler named (setServerRoute), when it did. */
  route: z.string().max(MAX_TAP_PATH).optional(),
  /** The instance that served it (its registered id, address:port). */
  instance: z.string().min(1).max(300),
});
export type TapSample = z.output<typeof tapSampleSchema>;

/** POST /v1/tap/<id>: what an instance saw since its last batch, and what it had to leave out. */
export const tapBatchSchema = z.strictObject({
  samples: z.array(tapSampleSchema).max(MAX_TAP_BATCH),
  /** Requests that matched but were over the instance's rate cap or its buffer, since the last batch. */
  dropped: z.int().nonnegative().max(1e9).default(0),
});
export type TapBatch = z.input<typeof tapBatchSchema>;
