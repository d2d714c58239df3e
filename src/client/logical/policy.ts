/**
 * From configuration (the Service spec's defaults, a Route rule's overrides)
 * to the compiled objects the resilience filters use per call. Run when the
 * configuration changes, never per request (DESIGN hot-path rule).
 */
import {
  resolveRetryPolicy,
  type LimitsSpec,
  type OutlierDetectionSpec,
  type ResolvedRetryPolicy,
  type RetryBudgetSpec,
  type RetryPolicySpec,
  type TimeoutsSpec,
} from '../../config/resources/resilience.js';
import type { ConcurrencyLimitOptions } from '../../resilience/concurrency-limiter.js';
import type { OutlierDetectionOptions } from '../../resilience/outlier-detector.js';
import type { RetryBudgetOptions } from '../../resilience/retry-budget.js';
import { RetryPolicy, type RetryPolicyOptions } from '../../resilience/retry-policy.js';

/** Timeouts of a call, in ms (0 or absent: none). Compiled once per config change, returned as is per call. */
export interface CallTimeouts {
  /** The whole call, every attempt and backoff included, until the response body ends. */
  requestMs?: number;
  /** One attempt, until its response headers. */
  perTryMs?: number;
}

/**
 * A Route rule's `retry` overrides the Service's `retries` as a whole (Gateway API semantics: the most
 * specific wins), so the rule's absent fields take the schema's defaults, not the Service's.
 */
export function compileRetryPolicy(rule: RetryPolicySpec | undefined, service: ResolvedRetryPolicy): RetryPolicy {
  return new RetryPolicy(retryPolicyOptions(rule === undefined ? service : resolveRetryPolicy(rule)));
}

export function retryPolicyOptions(spec: ResolvedRetryPolicy): RetryPolicyOptions {
  return {
    attempts: spec.attempts,
    on: spec.on,
    statusCodes: spec.statusCodes,
    retriable4xx: spec.retriable4xx,
    retryNonIdempotent: spec.retryNonIdempotent,
    backoff: { baseMs: spec.backoff.base, maxMs: spec.backoff.max },
    maxReplayBytes: spec.maxReplayBytes,
  };
}

/** What a route rule's own `timeouts` / `retry` make of a call, merged with its Service's (see compileRoutePolicy). */
export interface RoutePolicy {
  timeouts: CallTimeouts;
  retryPolicy: RetryPolicy;
}

/**
 * The policy of a route rule that sets `timeouts` or `retry`, merged with the
 * Service's; undefined when it sets neither (the destination's own policy
 * applies: one object per destination, not one per rule).
 */
export function compileRoutePolicy(
  rule: { timeouts?: TimeoutsSpec | undefined; retry?: RetryPolicySpec | undefined },
  service: { timeouts: TimeoutsSpec; retries: ResolvedRetryPolicy },
): RoutePolicy | undefined {
  if (rule.timeouts === undefined && rule.retry === undefined) return undefined;
  return { timeouts: compileTimeouts(rule.timeouts, service.timeouts), retryPolicy: compileRetryPolicy(rule.retry, service.retries) };
}

/** Timeouts: each field of the rule's wins over the service's. */
export function compileTimeouts(rule: TimeoutsSpec | undefined, service?: TimeoutsSpec): CallTimeouts {
  const out: CallTimeouts = {};
  const requestMs = rule?.request ?? service?.request;
  const perTryMs = rule?.perTry ?? service?.perTry;
  if (requestMs !== undefined) out.requestMs = requestMs;
  if (perTryMs !== undefined) out.perTryMs = perTryMs;
  return out;
}

export function retryBudgetOptions(spec: RetryBudgetSpec): RetryBudgetOptions {
  return { percent: spec.percent, minPerSecond: spec.minPerSecond, windowMs: spec.window };
}

/** undefined when outlier detection is disabled. */
export function outlierDetectionOptions(spec: OutlierDetectionSpec): OutlierDetectionOptions | undefined {
  if (!spec.enabled) return undefined;
  return {
    consecutiveFailures: spec.consecutiveFailures,
    baseEjectionMs: spec.baseEjectionTime,
    maxEjectionMs: spec.maxEjectionTime,
    maxEjectionPercent: spec.maxEjectionPercent,
    panicThreshold: spec.panicThreshold,
    // Derived, as the schema documents: a trial may take as long as a first ejection lasts.
    trialTimeoutMs: spec.baseEjectionTime,
  };
}

export function concurrencyLimitOptions(spec: LimitsSpec): ConcurrencyLimitOptions {
  return { maxConcurrent: spec.maxConcurrent, maxPending: spec.maxPending };
}
