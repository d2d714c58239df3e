import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryBudget } from '../../src/resilience/retry-budget.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { defaultRetryBudget } from '../helpers/resilience-defaults.js';

describe('RetryBudget', () => {
  it('with no traffic, the floor allows minPerSecond x window retries, then refuses and counts', () => {
    const clock = new FakeClock(0);
    const b = new RetryBudget({ percent: 20, minPerSecond: 10, windowMs: 10_000 }, clock);
    let ok = 0;
    for (let i = 0; i < 150; i++) if (b.tryWithdraw()) ok++;
    assert.equal(ok, 100);
    assert.equal(b.stats().exhausted, 50);
  });

  it('a total outage at steady load keeps retries / requests near 20 % plus the floor', () => {
    const clock = new FakeClock(0);
    const b = new RetryBudget(defaultRetryBudget, clock);
    let requests = 0;
    let retries = 0;
    // 500 requests/s for 60 s, every one failing and asking for a retry.
    for (let ms = 0; ms < 60_000; ms += 2) {
      clock.advance(2);
      b.deposit();
      requests++;
      if (b.tryWithdraw()) retries++;
    }
    const ratio = (requests + retries) / requests;
    // Bound: 1 + 0.2 + floor (10/s over 500/s = 0.02).
    assert.ok(ratio <= 1.2 + 10 / 500 + 0.005, `attempts/requests = ${ratio}`);
    assert.ok(ratio >= 1.19, `the budget is used, not starved: ${ratio}`);
  });

  it('the window slides: old requests and retries leave it', () => {
    const clock = new FakeClock(0);
    const b = new RetryBudget({ percent: 50, minPerSecond: 0, windowMs: 10_000 }, clock);
    for (let i = 0; i < 100; i++) b.deposit();
    assert.equal(b.stats().allowed, 50);
    for (let i = 0; i < 50; i++) assert.ok(b.tryWithdraw());
    assert.equal(b.tryWithdraw(), false);
    clock.advance(5_000);
    assert.equal(b.tryWithdraw(), false, 'still inside the window');
    clock.advance(5_000);
    assert.deepEqual(b.stats(), { requests: 0, retries: 0, allowed: 0, exhausted: 2 });
  });

  it('buckets leave one by one', () => {
    const clock = new FakeClock(0);
    const b = new RetryBudget({ percent: 100, minPerSecond: 0, windowMs: 10_000 }, clock);
    for (let s = 0; s < 10; s++) {
      b.deposit();
      clock.advance(1_000);
    }
    // The first deposit's bucket has just left; nine remain.
    assert.equal(b.stats().requests, 9);
    clock.advance(4_000);
    assert.equal(b.stats().requests, 5);
    clock.advance(60_000);
    assert.equal(b.stats().requests, 0);
  });

  it('announces exhaustion to listeners', () => {
    const b = new RetryBudget({ percent: 0, minPerSecond: 0, windowMs: 1_000 }, new FakeClock(0));
    const heard: number[] = [];
    const off = b.onExhausted((s) => heard.push(s.exhausted));
    b.tryWithdraw();
    b.tryWithdraw();
    off();
    b.tryWithdraw();
    assert.deepEqual(heard, [1, 2]);
  });
});
