import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serviceSpecSchema } from '../../../src/config/resources/service.js';
import { routeRuleSchema } from '../../../src/config/resources/route.js';
import {
  compileRetryPolicy,
  compileTimeouts,
  concurrencyLimitOptions,
  defaultRetryPolicy,
  outlierDetectionOptions,
  retryBudgetOptions,
} from '../../../src/client/logical/policy.js';

describe('from Service / Route configuration to the compiled resilience objects', () => {
  const service = serviceSpecSchema.parse({
    timeouts: { request: '2s', perTry: '500ms' },
    retries: { attempts: 3, statusCodes: [503, 429], retriable4xx: true, backoff: { base: '10ms', max: '1s' } },
    retryBudget: { percent: 10, window: '30s' },
    outlierDetection: { consecutiveFailures: 3, baseEjectionTime: '10s' },
    limits: { maxConcurrent: 64, maxPending: 0 },
  });

  it('the Service spec compiles to its policy, timeouts, budget, detector and limit options', () => {
    const p = compileRetryPolicy(undefined, service.retries);
    assert.equal(p.attempts, 3);
    assert.equal(p.retriesStatus(429), true);
    assert.equal(p.retriesStatus(502), false);
    assert.deepEqual([p.baseMs, p.maxMs], [10, 1000]);
    assert.equal(p.onTryTimeout, true, 'per-try-timeout is a default condition');
    assert.deepEqual(compileTimeouts(undefined, service.timeouts), { requestMs: 2000, perTryMs: 500 });
    assert.deepEqual(retryBudgetOptions(service.retryBudget), { percent: 10, minPerSecond: 10, windowMs: 30_000 });
    assert.deepEqual(outlierDetectionOptions(service.outlierDetection), {
      consecutiveFailures: 3,
      baseEjectionMs: 10_000,
      maxEjectionMs: 300_000,
      maxEjectionPercent: 10,
      panicThreshold: 50,
    });
    assert.deepEqual(concurrencyLimitOptions(service.limits), { maxConcurrent: 64, maxPending: 0 });
  });

  it("a Route rule's retry replaces the Service's whole; its timeouts win field by field", () => {
    const rule = routeRuleSchema.parse({ backendRefs: [{ name: 'api' }], timeouts: { perTry: '100ms' }, retry: { attempts: 1 } });
    assert.equal(compileRetryPolicy(rule.retry, service.retries).attempts, 1);
    assert.deepEqual(compileTimeouts(rule.timeouts, service.timeouts), { requestMs: 2000, perTryMs: 100 });
  });

  it('nothing configured: the shared defaults', () => {
    const empty = serviceSpecSchema.parse({});
    assert.equal(compileRetryPolicy(undefined, empty.retries), defaultRetryPolicy);
    assert.deepEqual(compileTimeouts(undefined, empty.timeouts), {});
    assert.equal(outlierDetectionOptions(serviceSpecSchema.parse({ outlierDetection: { enabled: false } }).outlierDetection), undefined);
  });

  it('the schema rejects a backoff whose max is below its base', () => {
    const r = serviceSpecSchema.safeParse({ retries: { backoff: { base: '300ms', max: '100ms' } } });
    assert.equal(r.success, false);
  });
});
