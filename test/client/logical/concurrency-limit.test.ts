import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compose } from '../../../src/core/filter.js';
import { ErrorCode, isMeshError } from '../../../src/core/errors.js';
import { concurrencyLimit } from '../../../src/client/logical/concurrency-limit.js';
import { ConcurrencyLimiter } from '../../../src/resilience/concurrency-limiter.js';
import { dispatchThrough, fakeEndpoint, flush, newCall, ScriptedTransport, testBalance, type Step } from '../../helpers/client-fakes.js';

function setup(script: Step[], maxConcurrent: number, maxPending: number) {
  const limiter = new ConcurrencyLimiter({ maxConcurrent, maxPending });
  const transport = new ScriptedTransport(script);
  const handle = compose([concurrencyLimit(limiter), testBalance(() => [fakeEndpoint(1)])], transport.handle);
  return { limiter, transport, handle };
}

describe('concurrency limit filter (fake transport)', () => {
  it('N in flight, M waiting, the rest fail fast with HYPHAE_ERR_CONCURRENCY_LIMIT (rejected)', async () => {
    const { limiter, transport, handle } = setup(['hang'], 3, 2);
    const started = Array.from({ length: 8 }, () => newCall());
    const done = started.map(({ call }) => dispatchThrough(handle, call));
    await flush();
    assert.equal(transport.attempts.length, 3, 'exactly N sent');
    assert.equal(limiter.inflight, 3);
    assert.equal(limiter.pending, 2);
    const refused = started.filter((s) => isMeshError(s.seen.error, ErrorCode.CONCURRENCY_LIMIT));
    assert.equal(refused.length, 3);
    assert.ok(refused.every((s) => (s.seen.error as unknown as { rejected: boolean }).rejected));
    for (const s of started) s.call.abort(new Error('end'));
    await Promise.all(done);
    assert.deepEqual([limiter.inflight, limiter.pending], [0, 0]);
  });

  it('a slot is held until the response body ends, then passes to the oldest waiter', async () => {
    const { limiter, transport, handle } = setup([{ status: 200, open: true }, { status: 200 }], 1, 1);
    const first = newCall();
    await dispatchThrough(handle, first.call);
    assert.equal(first.seen.status, 200);
    assert.equal(first.seen.completed, false, 'body still streaming');
    const second = newCall();
    const p = dispatchThrough(handle, second.call);
    await flush();
    assert.equal(transport.attempts.length, 1, 'waits while the first body streams');
    transport.attempts[0]!.onComplete(null);
    await p;
    assert.equal(second.seen.status, 200);
    assert.equal(limiter.inflight, 0);
  });

  it('a waiting call that is aborted leaves the queue; a failed call frees its slot', async () => {
    const { limiter, transport, handle } = setup(['hang'], 1, 5);
    const a = newCall();
    const b = newCall();
    const pa = dispatchThrough(handle, a.call);
    const pb = dispatchThrough(handle, b.call);
    await flush();
    assert.equal(limiter.pending, 1);
    const reason = new Error('deadline');
    b.call.abort(reason);
    await pb;
    assert.equal(b.seen.error, reason);
    assert.equal(limiter.pending, 0);
    a.call.abort(new Error('stop'));
    await pa;
    assert.equal(limiter.inflight, 0);
    assert.equal(transport.attempts.length, 1);
  });
});
