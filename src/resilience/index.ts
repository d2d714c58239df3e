export * from './deadline.js';
export * from './request-context.js';
export * from './retry-policy.js';
export * from './retry-budget.js';
export * from './outlier-detector.js';
export * from './concurrency-limiter.js';
export * from './refusal.js';
