/**
 * A destination applies the schema's defaults and fills no gap itself (issue 15): with no Service
 * resource, and with a stored Service whose groups set one field each, every mechanism it builds (retry
 * budget, limiter, outlier detector, latency estimates) gets the same value for every field left out.
 * The values themselves are docs/usage.md's (test/config/documented-defaults.test.ts).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Destination } from '../../src/client/destination.js';
import { resolveServiceSpec, serviceSpecSchema } from '../../src/config/resources.js';
import type { ServiceKey } from '../../src/discovery/resolver.js';
import { StaticResolver } from '../../src/discovery/static-resolver.js';
import { WatchCache, type ServiceState } from '../../src/discovery/watch-cache.js';

const endpoint = [{ address: '127.0.0.1', port: 9 }];

describe('a destination builds its mechanisms from the resolved spec', () => {
  const resolver = new StaticResolver({ plain: endpoint, partial: endpoint });
  // As the control plane stores it: only the fields written, each group's others from the schema.
  resolver.configure('partial', {
    config: serviceSpecSchema.parse({
      retryBudget: { window: '5s' },
      limits: { maxPending: 3 },
      outlierDetection: { consecutiveFailures: 3 },
      peakEwma: { decay: '5s' },
    }),
  });
  const cache = new WatchCache(resolver);
  const dests: Destination[] = [];
  after(async () => {
    for (const d of dests) await d.close();
    await cache.close();
  });

  /** A destination once discovery's first answer has reached it (its listener runs before ours). */
  function ready(name: string): Promise<Destination> {
    const key: ServiceKey = { namespace: 'default', name };
    const dest = new Destination(key, { cache, discoveryTimeoutMs: 2_000 });
    dests.push(dest);
    return new Promise((resolve) => {
      const off = cache.subscribe(key, (s: ServiceState | Error) => {
        if (s instanceof Error || s.status !== 'ready') return;
        off();
        resolve(dest);
      });
    });
  }

  it('no Service resource and partial groups give the same value for every field left out', async () => {
    const [plain, partial] = await Promise.all([ready('plain'), ready('partial')]);
    assert.equal(plain.endpoints.size, 1);
    assert.equal(partial.endpoints.size, 1);
    const defaults = resolveServiceSpec(null);

    assert.deepEqual(
      [plain.policy.retryBudget.percent, plain.policy.retryBudget.minPerSecond, plain.policy.retryBudget.windowMs],
      [defaults.retryBudget.percent, defaults.retryBudget.minPerSecond, defaults.retryBudget.window],
    );
    assert.deepEqual(
      [partial.policy.retryBudget.percent, partial.policy.retryBudget.minPerSecond, partial.policy.retryBudget.windowMs],
      [plain.policy.retryBudget.percent, plain.policy.retryBudget.minPerSecond, 5000],
    );

    assert.deepEqual([plain.policy.limiter.maxConcurrent, plain.policy.limiter.maxPending], [defaults.limits.maxConcurrent, defaults.limits.maxPending]);
    assert.deepEqual([partial.policy.limiter.maxConcurrent, partial.policy.limiter.maxPending], [plain.policy.limiter.maxConcurrent, 3]);

    const o = defaults.outlierDetection;
    assert.deepEqual(plain.outlierOptions, {
      consecutiveFailures: o.consecutiveFailures,
      baseEjectionMs: o.baseEjectionTime,
      maxEjectionMs: o.maxEjectionTime,
      maxEjectionPercent: o.maxEjectionPercent,
      panicThreshold: o.panicThreshold,
      trialTimeoutMs: o.baseEjectionTime,
    });
    assert.deepEqual(partial.outlierOptions, { ...plain.outlierOptions, consecutiveFailures: 3 });

    const ewma = (d: Destination) => d.endpoints.list[0]!.latency.settings;
    assert.deepEqual(ewma(plain), { defaultRttMs: defaults.peakEwma.defaultRtt, decayMs: defaults.peakEwma.decay });
    assert.deepEqual(ewma(partial), { ...ewma(plain), decayMs: 5000 });

    assert.equal(plain.loadBalancer, defaults.loadBalancer);
    assert.equal(plain.policy.retryPolicy.attempts, defaults.retries.attempts);
    assert.deepEqual([plain.policy.retryPolicy.baseMs, plain.policy.retryPolicy.maxMs], [defaults.retries.backoff.base, defaults.retries.backoff.max]);
  });
});
