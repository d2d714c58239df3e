/**
 * Timeouts, retries, budgets, outlier detection and limits (issue 5), used by
 * Service (per destination) and Route rules (per route). Owned by the
 * resilience work.
 *
 * Every default of these settings is here, as a `.default()` of its field, and
 * nowhere else: the resilience mechanisms take complete options, and a client
 * gets them by parsing the Service spec with `resolvedServiceSpecSchema`
 * (./service.ts), which fills absent sub-objects too. docs/usage.md states the
 * same defaults in its "Defaults" table; test/config/documented-defaults.test.ts
 * keeps the two equal.
 */
import { z } from 'zod';
import { durationSchema } from '../duration-schema.js';

export const timeoutsSchema = z.strictObject({
  /** Whole call, every attempt included. Absent: the call has no deadline of its own (an inbound one still applies). */
  request: durationSchema({ min: 1, max: 3_600_000 }).optional(),
  /** One attempt. Absent: an attempt is bounded only by the call's deadline. */
  perTry: durationSchema({ min: 1, max: 3_600_000 }).optional(),
});

export const retryConditionSchema = z.enum([
  /** The connection could not be made: the request was not sent. */
  'connect-failure',
  /** The connection closed or reset before any response. */
  'reset',
  /** A status listed in statusCodes (502, 503, 504 by default). */
  'retriable-status',
  /** The attempt ran past timeouts.perTry (the request may have been processed: idempotent requests only). */
  'per-try-timeout',
]);

/** Full jitter: the wait before retry n is uniform in [0, min(max, base x 2^n)). */
export const backoffSchema = z
  .strictObject({
    base: durationSchema({ min: 1, max: 60_000 }).default(25),
    max: durationSchema({ min: 1, max: 600_000 }).default(250),
  })
  .refine((b) => b.max >= b.base, { error: 'backoff.max must not be below backoff.base', path: ['max'] });

// The fields of a retry policy around `backoff`, in the order they are stored (key order is part of what
// the control plane stores and sends, and of the JSON that clients compare to detect a change).
const retryFieldsBeforeBackoff = {
  /** Total tries, the first included (2 = one retry). */
  attempts: z.int().min(1).max(10).default(2),
  on: z.array(retryConditionSchema).default(['connect-failure', 'reset', 'retriable-status', 'per-try-timeout']),
  statusCodes: z.array(z.int().min(400).max(599)).default([502, 503, 504]),
  /** 4xx codes in statusCodes are ignored unless this is set. */
  retriable4xx: z.boolean().default(false),
  /** Non-idempotent methods are retried only with an Idempotency-Key header, unless this is set. */
  retryNonIdempotent: z.boolean().default(false),
};
const retryFieldsAfterBackoff = {
  /** Largest request body kept for replay; a larger body, or a stream of unknown length, is never retried. */
  maxReplayBytes: z
    .int()
    .min(0)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
};

/** A retry policy as written and stored: an absent `backoff` stays absent (the stored shape predates issue 15). */
export const retryPolicySchema = z.strictObject({
  ...retryFieldsBeforeBackoff,
  backoff: backoffSchema.optional(),
  ...retryFieldsAfterBackoff,
});

/** A retry policy as applied: the same fields, `backoff` filled with its defaults when absent. */
export const resolvedRetryPolicySchema = z.strictObject({
  ...retryFieldsBeforeBackoff,
  backoff: backoffSchema.prefault({}),
  ...retryFieldsAfterBackoff,
});

export const retryBudgetSchema = z.strictObject({
  /** Retries may add at most this share of requests... */
  percent: z.number().min(0).max(1000).default(20),
  /** ...plus this many per second... */
  minPerSecond: z.number().min(0).max(100_000).default(10),
  /** ...over this window. */
  window: durationSchema({ min: 1000, max: 600_000 }).default(10_000),
});

export const outlierDetectionSchema = z.strictObject({
  enabled: z.boolean().default(true),
  consecutiveFailures: z.int().min(1).max(1000).default(5),
  /**
   * The first ejection's length, and the unit of the rest (x n, n decaying by one per this much health).
   * Also how long an ejected endpoint's trial request may go unanswered before it counts as failed: a
   * derivation, not a field of its own (client/logical/policy.ts, docs/usage.md "Outlier detection").
   */
  baseEjectionTime: durationSchema({ min: 1, max: 3_600_000 }).default(30_000),
  maxEjectionTime: durationSchema({ min: 1, max: 3_600_000 }).default(300_000),
  maxEjectionPercent: z.number().min(0).max(100).default(10),
  /** Below this share of healthy endpoints, balance over all of them (ejections ignored). */
  panicThreshold: z.number().min(0).max(100).default(50),
});

export const limitsSchema = z.strictObject({
  /** Requests in flight to the destination at once. */
  maxConcurrent: z.int().min(1).max(1_000_000).default(1024),
  /** Requests waiting for a slot beyond that; more fail fast. */
  maxPending: z.int().min(0).max(1_000_000).default(1024),
});

/** The resilience fields of a Service spec as written and stored: absent sub-objects stay absent. */
export const resilienceSpecShape = {
  timeouts: timeoutsSchema.optional(),
  retries: retryPolicySchema.optional(),
  retryBudget: retryBudgetSchema.optional(),
  outlierDetection: outlierDetectionSchema.optional(),
  limits: limitsSchema.optional(),
};

/**
 * The same fields as applied: each absent sub-object is parsed from `{}`
 * (`prefault`), so it gets every field's default, exactly as a partial one
 * gets the fields it leaves out.
 */
export const resolvedResilienceShape = {
  timeouts: timeoutsSchema.prefault({}),
  retries: resolvedRetryPolicySchema.prefault({}),
  retryBudget: retryBudgetSchema.prefault({}),
  outlierDetection: outlierDetectionSchema.prefault({}),
  limits: limitsSchema.prefault({}),
};

export type TimeoutsSpec = z.output<typeof timeoutsSchema>;
export type RetryCondition = z.output<typeof retryConditionSchema>;
export type BackoffSpec = z.output<typeof backoffSchema>;
export type RetryPolicySpec = z.output<typeof retryPolicySchema>;
export type ResolvedRetryPolicy = z.output<typeof resolvedRetryPolicySchema>;
export type RetryBudgetSpec = z.output<typeof retryBudgetSchema>;
export type OutlierDetectionSpec = z.output<typeof outlierDetectionSchema>;
export type LimitsSpec = z.output<typeof limitsSchema>;

/**
 * A Route rule's `retry` as applied (it replaces the Service's retries as a
 * whole, so its absent fields take the schema's defaults, not the Service's).
 * Runs when routes are compiled, never per request.
 */
export function resolveRetryPolicy(spec: RetryPolicySpec): ResolvedRetryPolicy {
  return resolvedRetryPolicySchema.parse(spec);
}
