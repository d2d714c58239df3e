/**
 * The logical tier's state of one destination, from its Service spec: the
 * retry budget, the concurrency limiter, and the default timeouts and retry
 * policy (a route rule may override the last two). Each piece is rebuilt only
 * when its own settings change, so that an unrelated change (a new subset)
 * does not reset the budget's window; calls in flight keep the limiter they
 * hold a slot of.
 */
import type { ResolvedServiceSpec } from '../../config/resources.js';
import type { ResolvedRetryPolicy, TimeoutsSpec } from '../../config/resources/resilience.js';
import { ConcurrencyLimiter } from '../../resilience/concurrency-limiter.js';
import { RetryBudget } from '../../resilience/retry-budget.js';
import type { RetryPolicy } from '../../resilience/retry-policy.js';
import { compileRetryPolicy, compileTimeouts, concurrencyLimitOptions, retryBudgetOptions, type CallTimeouts } from './policy.js';

export class ServicePolicy {
  /** Timeouts of calls no route rule gives its own (Service.spec.timeouts); {} = none. */
  timeouts: CallTimeouts = {};
  /** Retry policy of calls no route rule gives its own (Service.spec.retries). */
  retryPolicy!: RetryPolicy;
  /** The spec's timeouts and retries they were compiled from: a new object exactly when they change (rule-policy.ts). */
  defaults!: { readonly timeouts: TimeoutsSpec; readonly retries: ResolvedRetryPolicy };
  /** Retries to this destination <= percent of its requests + minPerSecond (Service.spec.retryBudget). */
  retryBudget!: RetryBudget;
  /** Calls in flight and waiting (Service.spec.limits). */
  limiter!: ConcurrencyLimiter;
  #keys = { budget: '', limits: '', policy: '' };

  constructor(config: ResolvedServiceSpec) {
    this.apply(config);
  }

  /** Apply a Service spec; true when the timeouts or retry policy changed (route rules merge with them: compile them again). */
  apply(config: ResolvedServiceSpec): boolean {
    const keys = this.#keys;
    const budget = JSON.stringify(config.retryBudget);
    if (budget !== keys.budget) {
      keys.budget = budget;
      this.retryBudget = new RetryBudget(retryBudgetOptions(config.retryBudget));
    }
    const limits = JSON.stringify(config.limits);
    if (limits !== keys.limits) {
      keys.limits = limits;
      this.limiter = new ConcurrencyLimiter(concurrencyLimitOptions(config.limits));
    }
    const policy = JSON.stringify([config.timeouts, config.retries]);
    if (policy === keys.policy) return false;
    keys.policy = policy;
    this.defaults = { timeouts: config.timeouts, retries: config.retries };
    this.timeouts = compileTimeouts(undefined, config.timeouts);
    this.retryPolicy = compileRetryPolicy(undefined, config.retries);
    return true;
  }
}
