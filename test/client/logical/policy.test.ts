import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveServiceSpec, serviceSpecSchema } from '../../../src/config/resources/service.js';
import { routeRuleSchema } from '../../../src/config/resources/route.js';
import { compileRetryPolicy, compileTimeouts, concurrencyLimitOptions, outlierDetectionOptions, retryBudgetOptions } from '../../../src/client/logical/policy.js';

describe('from Service / Route configuration to the compiled resilience objects', () => {
  // As a client applies it: the stored spec, with every default filled in.
  const service = resolveServiceSpec(
    serviceSpecSchema.parse({
      timeouts: { request: '2s', perTry: '500ms' },
      retries: { attempts: 3, statusCodes: [503, 429], retriable4xx: true, backoff: { base: '10ms', max: '1s' } },
      retryBudget: { percent: 10, window: '30s' },
      outlierDetection: { consecutiveFailures: 3, baseEjectionTime: '10s' },
      limits: { maxConcurrent: 64, maxPending: 0 },
    }),
  );

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
      trialTimeoutMs: 10_000,
    });
    assert.deepEqual(concurrencyLimitOptions(service.limits), { maxConcurrent: 64, maxPending: 0 });
  });

  it("a Route rule's retry replaces the Service's whole; its timeouts win field by field", () => {
    const rule = routeRuleSchema.parse({ backendRefs: [{ name: 'api' }], timeouts: { perTry: '100ms' }, retry: { attempts: 1 } });
    const p = compileRetryPolicy(rule.retry, service.retries);
    assert.equal(p.attempts, 1);
    // What the rule leaves out is the schema's default, not the Service's (10 ms..1 s, 429 retried).
    assert.deepEqual([p.baseMs, p.maxMs], [25, 250]);
    assert.equal(p.retriesStatus(429), false);
    assert.equal(p.retriesStatus(503), true);
    assert.deepEqual(compileTimeouts(rule.timeouts, service.timeouts), { requestMs: 2000, perTryMs: 100 });
  });

  it('nothing configured: the defaults (DESIGN: 2 attempts, 502/503/504, full jitter 25..250 ms, 64 KiB replay)', () => {
    const empty = resolveServiceSpec(null);
    const p = compileRetryPolicy(undefined, empty.retries);
    assert.equal(p.attempts, 2);
    assert.deepEqual([p.baseMs, p.maxMs], [25, 250]);
    assert.deepEqual(
      [500, 502, 503, 504, 429].map((c) => p.retriesStatus(c)),
      [false, true, true, true, false],
    );
    assert.deepEqual([p.onConnect, p.onReset, p.onStatus, p.onTryTimeout], [true, true, true, true]);
    assert.equal(p.retryNonIdempotent, false);
    assert.equal(p.maxReplayBytes, 64 * 1024);
    assert.deepEqual(compileTimeouts(undefined, empty.timeouts), {});
    assert.equal(outlierDetectionOptions(resolveServiceSpec(serviceSpecSchema.parse({ outlierDetection: { enabled: false } })).outlierDetection), undefined);
  });

  it('the schema rejects a backoff whose max is below its base', () => {
    const r = serviceSpecSchema.safeParse({ retries: { backoff: { base: '300ms', max: '100ms' } } });
    assert.equal(r.success, false);
  });
});
