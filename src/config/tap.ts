/**
 * `hyphae tap` on the wire (issue 19): what the control plane tells the instances of a tapped service
 * (`event: tap` on their watch stream), what they send back (sample batches), and the bounds both sides
 * hold. Its own file, beside wire.ts, because every process parses the tap event but only the control
 * plane needs the batch schema: zod builds a schema's objects when the module loads.
 */
import { z } from 'zod';
import { API_PREFIX } from './wire.js';

/** `GET /v1/tap/<namespace>/<service>` opens a tap (SSE, admin token); `POST /v1/tap/<id>` feeds it. */
export const TAP_PATH = `${API_PREFIX}/tap`;

/** Samples per second per tap when the caller names none (linkerd viz tap's default). */
export const DEFAULT_TAP_MAX_RPS = 100;
/** The most a tap may ask for: every instance caps itself at this, and the control plane caps the tap too. */
export const MAX_TAP_MAX_RPS = 1000;
/** A tap ends by itself after this long unless the caller asks for less (or more, up to the maximum). */
export const DEFAULT_TAP_DURATION_MS = 5 * 60_000;
export const MAX_TAP_DURATION_MS = 60 * 60_000;
/**
 * An instance stops tapping when it has not heard its tap announced again for this long. The control
 * plane repeats every announcement at a third of it, so a lost "off" (a watch stream that broke at the
 * wrong moment) costs at most this much sampling, and an instance that starts mid-tap joins within a third.
 */
export const TAP_LEASE_MS = 10_000;
/** Paths are cut to this many characters (query and fragment are never sent: they carry data). */
export const MAX_TAP_PATH = 256;
/** Samples in one batch an instance posts; the instance flushes sooner, every TAP_FLUSH_MS. */
export const MAX_TAP_BATCH = 200;
export const TAP_FLUSH_MS = 250;
/** Taps a service may carry at once (also the control plane's bound per service). */
export const MAX_TAPS_PER_SERVICE = 8;

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
