/**
 * Retry and outlier detection read one verdict per attempt, so they agree on
 * what `x-hyphae-rejected` means: a refusal by the peer's mesh is replayed
 * whatever the method (nothing was processed) exactly when it is not held
 * against the endpoint, and an answer that is not a refusal is neither.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compose } from '../../../src/core/filter.js';
import { retry, type RetryEvent } from '../../../src/client/logical/retry.js';
import { outlierDetection } from '../../../src/client/endpoint/outlier.js';
import { OutlierDetector } from '../../../src/resilience/outlier-detector.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { defaultOutlierDetection, retryPolicy } from '../../helpers/resilience-defaults.js';
import { dispatchThrough, fakeEndpoint, flush, newCall, ScriptedTransport, testBalance, type Step } from '../../helpers/client-fakes.js';

async function once(first: Step): Promise<{ retriedAs: string | undefined; attempts: number; failuresOnFirst: number }> {
  const clock = new FakeClock(0);
  const eps = [fakeEndpoint(1), fakeEndpoint(2)];
  const detector = new OutlierDetector(defaultOutlierDetection, () => eps.length, clock);
  const transport = new ScriptedTransport([first, { status: 200 }]);
  const events: RetryEvent[] = [];
  const policy = retryPolicy();
  const handle = compose([retry({ policy: () => policy, clock, random: () => 0, onRetry: (e) => events.push(e) }), testBalance(() => eps), outlierDetection(detector)], transport.handle);
  // POST: only a request that was never processed may be replayed.
  const { call } = newCall({ method: 'POST', body: 'x' });
  let settled = false;
  const p = dispatchThrough(handle, call).finally(() => (settled = true));
  for (let i = 0; i < 100 && !settled; i++) {
    await flush();
    clock.advance(10);
  }
  await p;
  const retried = events.find((e) => e.decision === 'retry');
  return { retriedAs: retried?.condition, attempts: transport.attempts.length, failuresOnFirst: eps[0]!.health?.consecutiveFailures ?? -1 };
}

describe('retry and outlier detection agree on x-hyphae-rejected (one verdict)', () => {
  for (const [status, reason] of [
    [503, 'shed'],
    [504, 'deadline'],
    [503, 'some-future-reason'],
  ] as const) {
    it(`${status} x-hyphae-rejected: ${reason}: replayed for POST as a refusal, and neutral for the endpoint`, async () => {
      const r = await once({ status, headers: { 'x-hyphae-rejected': reason } });
      assert.equal(r.retriedAs, 'refused');
      assert.equal(r.attempts, 2);
      assert.equal(r.failuresOnFirst, 0, 'not held against the endpoint');
    });
  }

  for (const step of [{ status: 503 }, { status: 504 }, { status: 500, headers: { 'x-hyphae-rejected': 'shed' } }] as Step[]) {
    it(`${JSON.stringify(step)}: not a refusal — not replayed for POST, and a failure of the endpoint`, async () => {
      const r = await once(step);
      assert.equal(r.retriedAs, undefined);
      assert.equal(r.attempts, 1);
      assert.equal(r.failuresOnFirst, 1);
    });
  }
});
