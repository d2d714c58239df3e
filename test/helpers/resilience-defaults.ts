/**
 * The options a destination with no Service resource gives its resilience mechanisms: the schema's
 * defaults (src/config/resources), converted as Destination converts them. The mechanisms take complete
 * options (issue 15), so a test that means "as production runs it" takes these, never numbers of its own.
 */
import { resolveServiceSpec } from '../../src/config/resources.js';
import { concurrencyLimitOptions, outlierDetectionOptions, retryBudgetOptions, retryPolicyOptions } from '../../src/client/logical/policy.js';
import type { ConcurrencyLimitOptions } from '../../src/resilience/concurrency-limiter.js';
import type { OutlierDetectionOptions } from '../../src/resilience/outlier-detector.js';
import type { RetryBudgetOptions } from '../../src/resilience/retry-budget.js';
import { RetryPolicy, type RetryPolicyOptions } from '../../src/resilience/retry-policy.js';

const spec = resolveServiceSpec(null);

export const defaultRetryBudget: Readonly<RetryBudgetOptions> = retryBudgetOptions(spec.retryBudget);
export const defaultRetryPolicy: Readonly<RetryPolicyOptions> = retryPolicyOptions(spec.retries);
export const defaultLimits: Readonly<ConcurrencyLimitOptions> = concurrencyLimitOptions(spec.limits);

function enabledOutlier(): OutlierDetectionOptions {
  const o = outlierDetectionOptions(spec.outlierDetection);
  if (o === undefined) throw new Error('outlier detection is on by default');
  return o;
}
export const defaultOutlierDetection: Readonly<OutlierDetectionOptions> = enabledOutlier();

/** A retry policy as a Service with no `retries` gets it, with the fields a test is about changed. */
export function retryPolicy(changes: Partial<RetryPolicyOptions> = {}): RetryPolicy {
  return new RetryPolicy({ ...defaultRetryPolicy, ...changes });
}
