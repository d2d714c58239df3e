import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isMeshError } from '../../src/core/errors.js';
import { currentRequestContext, RequestContext, runInRequestContext } from '../../src/resilience/request-context.js';
import { FakeClock } from '../helpers/fake-clock.js';

describe('RequestContext', () => {
  it('is the current context inside runInRequestContext, across awaits, and none outside', async () => {
    const ctx = new RequestContext(Infinity);
    assert.equal(currentRequestContext(), undefined);
    const seen = await runInRequestContext(
      ctx,
      async (x: number) => {
        await new Promise((r) => setTimeout(r, 1));
        return [currentRequestContext(), x] as const;
      },
      7,
    );
    assert.equal(seen[0], ctx);
    assert.equal(seen[1], 7);
    assert.equal(currentRequestContext(), undefined);
  });

  it('the signal is lazy and aborts at the deadline with HYPHAE_ERR_DEADLINE_EXCEEDED', () => {
    const clock = new FakeClock(0);
    const ctx = new RequestContext(100, clock);
    assert.equal(clock.pending, 0, 'no timer until someone asks for the signal');
    const signal = ctx.signal;
    assert.equal(clock.pending, 1);
    clock.advance(99);
    assert.equal(signal.aborted, false);
    clock.advance(1);
    assert.equal(signal.aborted, true);
    assert.ok(isMeshError(signal.reason, ErrorCode.DEADLINE_EXCEEDED));
    assert.equal(ctx.signal, signal);
  });

  it('a signal asked for after the deadline is already aborted', () => {
    const clock = new FakeClock(0);
    const ctx = new RequestContext(10, clock);
    clock.advance(20);
    assert.ok(ctx.signal.aborted);
    assert.ok(isMeshError(ctx.reason, ErrorCode.DEADLINE_EXCEEDED));
  });

  it('cancel() aborts the signal and every tracked call, once', () => {
    const ctx = new RequestContext(Infinity);
    const aborted: string[] = [];
    const a = { abort: (e: Error) => aborted.push(`a:${e.message}`) };
    const b = { abort: (e: Error) => aborted.push(`b:${e.message}`) };
    const c = { abort: (e: Error) => aborted.push(`c:${e.message}`) };
    ctx.track(a);
    ctx.track(b);
    ctx.track(c);
    ctx.untrack(c);
    const signal = ctx.signal;
    ctx.cancel(new Error('gone'));
    ctx.cancel(new Error('again'));
    assert.deepEqual(aborted, ['a:gone', 'b:gone']);
    assert.equal(signal.reason.message, 'gone');
  });

  it('end() releases the timer and stops tracking without aborting anything', () => {
    const clock = new FakeClock(0);
    const ctx = new RequestContext(100, clock);
    const aborted: Error[] = [];
    ctx.track({ abort: (e) => aborted.push(e) });
    const signal = ctx.signal;
    ctx.end();
    assert.equal(clock.pending, 0);
    clock.advance(500);
    ctx.cancel(new Error('late'));
    assert.equal(signal.aborted, false);
    assert.deepEqual(aborted, []);
  });
});
