import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OutlierDetector, type EjectionEvent, type EndpointHealth, type OutlierDetectionOptions } from '../../src/resilience/outlier-detector.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { defaultOutlierDetection } from '../helpers/resilience-defaults.js';

/** A detector over n endpoints with the defaults a destination applies, and `options` instead of some. */
function pool(n: number, options: Partial<OutlierDetectionOptions> = {}) {
  const clock = new FakeClock(0);
  let size = n;
  const d = new OutlierDetector({ ...defaultOutlierDetection, ...options }, () => size, clock);
  const hs = Array.from({ length: n }, (_, i) => d.track(`ep${i}`));
  const ejections: EjectionEvent[] = [];
  d.onEjection((e) => ejections.push(e));
  return { clock, d, hs, ejections, setSize: (s: number) => (size = s) };
}

function fail(h: EndpointHealth, times: number): void {
  for (let i = 0; i < times; i++) {
    h.onSend();
    h.report('failure');
  }
}

describe('OutlierDetector', () => {
  it('ejects after 5 consecutive failures for 30 s; a success in between resets the count', () => {
    const { clock, hs, ejections } = pool(10);
    const h = hs[0]!;
    fail(h, 4);
    h.report('success');
    fail(h, 4);
    assert.equal(h.state, 'healthy');
    assert.equal(h.available, true);
    fail(h, 1);
    assert.equal(h.state, 'ejected');
    assert.equal(h.available, false);
    assert.equal(ejections[0]!.durationMs, 30_000);
    clock.advance(29_999);
    assert.equal(h.available, false);
    clock.advance(1);
    assert.equal(h.available, true);
    assert.equal(h.state, 'probation');
  });

  it('neutral outcomes neither count nor reset', () => {
    const { hs } = pool(10);
    const h = hs[0]!;
    fail(h, 4);
    h.report('neutral');
    fail(h, 1);
    assert.equal(h.state, 'ejected');
  });

  it('a returning endpoint takes exactly one trial request: success brings it back', () => {
    const { clock, hs, d } = pool(10);
    const h = hs[0]!;
    fail(h, 5);
    clock.advance(30_000);
    assert.equal(h.available, true);
    h.onSend();
    assert.equal(h.state, 'trial');
    assert.equal(h.available, false, 'no second request while the trial is out');
    h.report('success');
    assert.equal(h.state, 'healthy');
    assert.equal(h.available, true);
    assert.equal(d.unhealthy, 0);
  });

  it('a failed trial ejects again for 30 s x n, capped at 300 s', () => {
    const { clock, hs, ejections } = pool(10);
    const h = hs[0]!;
    fail(h, 5);
    for (let i = 0; i < 12; i++) {
      clock.advance(ejections.at(-1)!.durationMs);
      h.onSend();
      h.report('failure');
    }
    assert.deepEqual(
      ejections.map((e) => e.durationMs / 1000),
      [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300, 300],
    );
  });

  it('a trial unanswered after trialTimeoutMs (baseEjection by default) fails: ejected again, then back after a good trial', () => {
    const { clock, d, hs, ejections } = pool(3);
    const trials: EndpointHealth[] = [];
    d.onTrial((h) => trials.push(h));
    const h = hs[0]!;
    fail(h, 5);
    clock.advance(30_000);
    h.onSend(); // the trial; its endpoint now accepts connections and never answers
    assert.deepEqual(trials, [h]);
    assert.equal(d.options.trialTimeoutMs, 30_000);
    clock.advance(29_999);
    h.expireTrial();
    assert.equal(h.state, 'trial', 'not before its time');
    // Meanwhile the cap (3 endpoints: always one) lets no other endpoint be ejected.
    fail(hs[1]!, 5);
    assert.equal(hs[1]!.state, 'healthy');
    clock.advance(1);
    h.expireTrial();
    assert.equal(h.state, 'ejected');
    assert.deepEqual([ejections.at(-1)!.trial, ejections.at(-1)!.multiplier, ejections.at(-1)!.durationMs], [true, 2, 60_000]);
    h.report('success'); // the hung trial's late answer decides nothing
    assert.equal(h.state, 'ejected');
    clock.advance(60_000);
    h.onSend();
    h.report('success');
    assert.equal(h.state, 'healthy');
    assert.equal(d.unhealthy, 0, 'its place under the cap is free again');
    fail(hs[1]!, 5);
    assert.equal(hs[1]!.state, 'ejected');
  });

  it('expireTrial does nothing once the trial has answered, and trialTimeoutMs can be set', () => {
    const { clock, d, hs } = pool(10, { trialTimeoutMs: 2_000 });
    const h = hs[0]!;
    assert.equal(d.options.trialTimeoutMs, 2_000);
    fail(h, 5);
    clock.advance(30_000);
    h.onSend();
    h.report('success');
    clock.advance(5_000);
    h.expireTrial();
    assert.equal(h.state, 'healthy');
  });

  it('a neutral trial leaves the endpoint on probation for another trial', () => {
    const { clock, hs } = pool(10);
    const h = hs[0]!;
    fail(h, 5);
    clock.advance(30_000);
    h.onSend();
    h.report('neutral');
    assert.equal(h.state, 'probation');
    assert.equal(h.available, true);
  });

  it('the multiplier decays while the endpoint stays healthy', () => {
    const { clock, hs, ejections } = pool(10);
    const h = hs[0]!;
    fail(h, 5);
    clock.advance(30_000);
    h.onSend();
    h.report('failure'); // x2: 60 s
    clock.advance(60_000);
    h.onSend();
    h.report('success');
    fail(h, 5); // right away: x3
    assert.equal(ejections.at(-1)!.durationMs, 90_000);
    clock.advance(90_000);
    h.onSend();
    h.report('success');
    clock.advance(2 * 30_000); // two base periods healthy: 3 -> 1
    fail(h, 5);
    assert.equal(ejections.at(-1)!.durationMs, 60_000);
  });

  it('answers to requests sent before the ejection do not decide anything', () => {
    const { hs } = pool(10);
    const h = hs[0]!;
    fail(h, 5);
    h.report('success');
    assert.equal(h.state, 'ejected');
  });

  it('at most 10 % ejected, but always one', () => {
    const small = pool(3);
    fail(small.hs[0]!, 5);
    fail(small.hs[1]!, 5);
    assert.equal(small.hs[0]!.state, 'ejected', 'one is always allowed, even when 10 % of 3 is 0.3');
    assert.equal(small.hs[1]!.state, 'healthy');
    assert.equal(small.d.capped, 1);
    fail(small.hs[1]!, 1);
    assert.equal(small.d.capped, 2, 'each further failure tries again');

    const big = pool(20);
    for (const h of big.hs.slice(0, 5)) fail(h, 5);
    assert.deepEqual(
      big.hs.slice(0, 5).map((h) => h.state),
      ['ejected', 'ejected', 'healthy', 'healthy', 'healthy'],
    );
    // When one comes back, another may go.
    big.clock.advance(30_000);
    big.hs[0]!.onSend();
    big.hs[0]!.report('success');
    fail(big.hs[2]!, 1);
    assert.equal(big.hs[2]!.state, 'ejected');
  });

  it('panics below 50 % healthy: ejected endpoints are available again', () => {
    const { hs, d } = pool(2, { maxEjectionPercent: 100 });
    fail(hs[0]!, 5);
    assert.equal(d.panicking, false, '1 of 2 healthy is exactly 50 %');
    assert.equal(hs[0]!.available, false);
    fail(hs[1]!, 5);
    assert.equal(d.panicking, true);
    assert.equal(hs[0]!.available, true);
    assert.equal(hs[1]!.available, true);
  });

  it('a single endpoint that is ejected is still used (panic), as Envoy does', () => {
    const { hs, d } = pool(1);
    fail(hs[0]!, 5);
    assert.equal(hs[0]!.state, 'ejected');
    assert.equal(d.panicking, true);
    assert.equal(hs[0]!.available, true);
  });

  it('answers that arrive after the endpoint left are ignored (no ejection of a removed endpoint)', () => {
    const { hs, d, ejections } = pool(10);
    hs[0]!.release();
    fail(hs[0]!, 10);
    assert.equal(ejections.length, 0);
    assert.equal(d.unhealthy, 0);
  });

  it('releasing an ejected endpoint frees its place under the cap', () => {
    const { hs, d, setSize } = pool(3);
    fail(hs[0]!, 5);
    hs[0]!.release();
    setSize(2);
    assert.equal(d.unhealthy, 0);
    fail(hs[1]!, 5);
    assert.equal(hs[1]!.state, 'ejected');
  });
});
