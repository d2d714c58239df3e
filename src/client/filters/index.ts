/**
 * The resilience filters of the client stack, as factories. They are
 * assembled, with the routing and balancing layers, in src/client/stack.ts.
 */
export { deadline, perTryTimeout, type CallTimeouts, type DeadlineFilterOptions } from './deadline.js';
export { retry, type RetryEvent, type RetryFilterOptions } from './retry.js';
export { outlierDetection } from './outlier.js';
export { concurrencyLimit } from './concurrency-limit.js';
export * from './policy.js';
