import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConcurrencyLimiter } from '../../src/resilience/concurrency-limiter.js';

describe('ConcurrencyLimiter', () => {
  it('grants maxConcurrent slots, queues maxPending, refuses the rest', () => {
    const l = new ConcurrencyLimiter({ maxConcurrent: 2, maxPending: 1 });
    assert.equal(l.tryAcquire(), true);
    assert.equal(l.tryAcquire(), true);
    assert.equal(l.tryAcquire(), false);
    const granted: string[] = [];
    assert.equal(l.enqueue({ grant: () => granted.push('w1') }), true);
    assert.equal(l.enqueue({ grant: () => granted.push('w2') }), false);
    assert.equal(l.rejected, 1);
    assert.deepEqual([l.inflight, l.pending], [2, 1]);
    l.release();
    assert.deepEqual(granted, ['w1']);
    assert.deepEqual([l.inflight, l.pending], [2, 0], 'the slot passed straight to the waiter');
    l.release();
    l.release();
    assert.equal(l.inflight, 0);
    l.release();
    assert.equal(l.inflight, 0, 'never below zero');
  });

  it('serves waiters first come, first served, and a newcomer does not jump the queue', () => {
    const l = new ConcurrencyLimiter({ maxConcurrent: 1, maxPending: 3 });
    l.tryAcquire();
    const order: number[] = [];
    for (let i = 1; i <= 3; i++) l.enqueue({ grant: () => order.push(i) });
    l.release();
    assert.equal(l.tryAcquire(), false, 'waiters are ahead');
    l.release();
    l.release();
    assert.deepEqual(order, [1, 2, 3]);
  });

  it('a cancelled waiter leaves the queue and is never granted', () => {
    const l = new ConcurrencyLimiter({ maxConcurrent: 1, maxPending: 2 });
    l.tryAcquire();
    const order: string[] = [];
    const a = { grant: () => order.push('a') };
    const b = { grant: () => order.push('b') };
    l.enqueue(a);
    l.enqueue(b);
    assert.equal(l.cancel(a), true);
    assert.equal(l.cancel(a), false);
    l.release();
    assert.deepEqual(order, ['b']);
  });

  it('maxPending 0: no queue at all', () => {
    const l = new ConcurrencyLimiter({ maxConcurrent: 1, maxPending: 0 });
    l.tryAcquire();
    assert.equal(l.enqueue({ grant: () => {} }), false);
  });

  it('validates its options', () => {
    assert.throws(() => new ConcurrencyLimiter({ maxConcurrent: 0, maxPending: 1 }), RangeError);
    assert.throws(() => new ConcurrencyLimiter({ maxConcurrent: 1, maxPending: -1 }), RangeError);
  });
});
