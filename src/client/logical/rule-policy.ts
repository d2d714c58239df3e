/**
 * The timeouts and retry policy of a route rule whose parent has no Service
 * spec of its own (a Gateway): the rule's own fields over the spec of the
 * backend Service it sent the call to, as a direct call to that Service gets.
 * The backend's spec may change at any time without the parent's routes being
 * compiled again, so the merge follows it: it is redone on the first call
 * after that Service's timeouts or retries changed (one identity check per
 * call otherwise), never per request.
 */
import type { RetryPolicySpec, TimeoutsSpec } from '../../config/resources/resilience.js';
import type { RetryPolicy } from '../../resilience/retry-policy.js';
import { compileRoutePolicy, type CallTimeouts, type RoutePolicy } from './policy.js';
import type { ServicePolicy } from './service-policy.js';

export interface RulePolicySpec {
  timeouts?: TimeoutsSpec | undefined;
  retry?: RetryPolicySpec | undefined;
}

/** The policy of calls `rule` sends to the Service whose policy is `service`. */
export function ruleOverService(rule: RulePolicySpec, service: ServicePolicy): RoutePolicy {
  // A rule that sets neither: the Service's own policy object, which it keeps current itself.
  if (rule.timeouts === undefined && rule.retry === undefined) return service;
  return new MergedRulePolicy(rule, service);
}

class MergedRulePolicy implements RoutePolicy {
  readonly #rule: RulePolicySpec;
  readonly #service: ServicePolicy;
  #from: ServicePolicy['defaults'] | undefined;
  #merged: RoutePolicy | undefined;

  constructor(rule: RulePolicySpec, service: ServicePolicy) {
    this.#rule = rule;
    this.#service = service;
  }

  get timeouts(): CallTimeouts {
    return this.#current().timeouts;
  }

  get retryPolicy(): RetryPolicy {
    return this.#current().retryPolicy;
  }

  #current(): RoutePolicy {
    const defaults = this.#service.defaults;
    if (defaults !== this.#from || this.#merged === undefined) {
      this.#from = defaults;
      // Defined: the rule sets timeouts or retry (ruleOverService made this object for no other rule).
      this.#merged = compileRoutePolicy(this.#rule, defaults)!;
    }
    return this.#merged;
  }
}
