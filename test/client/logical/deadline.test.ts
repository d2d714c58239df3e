import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compose } from '../../../src/core/filter.js';
import { ErrorCode, isMeshError } from '../../../src/core/errors.js';
import { deadline, perTryTimeout, type CallTimeouts } from '../../../src/client/logical/deadline.js';
import { retry } from '../../../src/client/logical/retry.js';
import { getHeader } from '../../../src/client/call/headers.js';
import { RequestContext, runInRequestContext } from '../../../src/resilience/request-context.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { dispatchThrough, fakeEndpoint, flush, newCall, ScriptedTransport, testBalance, type Step } from '../../helpers/client-fakes.js';
import { retryPolicy } from '../../helpers/resilience-defaults.js';

const eps = [fakeEndpoint(1), fakeEndpoint(2)];

function setup(script: Step[], timeouts: CallTimeouts | undefined, withRetry = false) {
  const clock = new FakeClock(0);
  const transport = new ScriptedTransport(script);
  const policy = retryPolicy({ attempts: 3 });
  const handle = compose(
    [deadline({ timeouts: () => timeouts, clock }), ...(withRetry ? [retry({ policy: () => policy, clock, random: () => 0 })] : []), perTryTimeout(), testBalance(() => eps)],
    transport.handle,
  );
  return { clock, transport, handle };
}

describe('deadline and per-try timeout filters (fake transport, fake clock)', () => {
  it('no timeouts and no inbound request: the call passes untouched, with no timer and no header', async () => {
    const { handle, transport, clock } = setup([{ status: 200 }], undefined);
    const { call, seen } = newCall({ headers: { a: '1' } });
    await dispatchThrough(handle, call);
    assert.equal(seen.status, 200);
    assert.equal(call.timer, undefined);
    assert.equal(call.logical.deadline, Infinity);
    assert.deepEqual(transport.sent[0]!.headers, { a: '1' });
    assert.equal(clock.created, 0);
  });

  it('the request timeout aborts a hanging call with HYPHAE_ERR_DEADLINE_EXCEEDED at its instant', async () => {
    const { handle, transport, clock } = setup(['hang'], { requestMs: 100 });
    const { call, seen } = newCall();
    const p = dispatchThrough(handle, call);
    await flush();
    assert.equal(call.logical.deadline, 100);
    clock.advance(99);
    await flush();
    assert.equal(seen.error, undefined);
    clock.advance(1);
    await p;
    assert.ok(isMeshError(seen.error, ErrorCode.DEADLINE_EXCEEDED), String(seen.error));
    assert.equal(transport.aborts.length, 1, 'the attempt was aborted');
    assert.equal(clock.pending, 0);
  });

  it('tells the next hop the budget of each attempt in x-hyphae-deadline-ms, without touching the caller headers', async () => {
    const { handle, transport, clock } = setup([{ status: 200 }], { requestMs: 250 });
    const headers = { 'x-hyphae-deadline-ms': '99999', accept: 'text/plain' };
    const { call } = newCall({ headers });
    const callerOpts = call.opts;
    clock.advance(0);
    await dispatchThrough(handle, call);
    assert.equal(callerOpts.headers, headers, "the caller's options still hold its own headers");
    assert.equal(getHeader(transport.sent[0]!.headers, 'x-hyphae-deadline-ms'), '250');
    assert.equal(getHeader(transport.sent[0]!.headers, 'accept'), 'text/plain');
    assert.deepEqual(headers, { 'x-hyphae-deadline-ms': '99999', accept: 'text/plain' }, 'the caller object is not mutated');
    assert.equal(clock.pending, 0, 'the timer is cleared when the call completes');
  });

  it('per-try timeout: a hanging try is cut (retryable), the retry answers, all on one live timer', async () => {
    const { handle, transport, clock } = setup(['hang', { status: 200, body: 'second' }], { requestMs: 1000, perTryMs: 100 }, true);
    const { call, seen } = newCall();
    const p = dispatchThrough(handle, call);
    await flush();
    assert.equal(getHeader(transport.sent[0]!.headers, 'x-hyphae-deadline-ms'), '100', 'a try is told its own budget');
    assert.ok(clock.pending <= 1);
    clock.advance(100);
    await flush();
    await flush();
    await p;
    assert.deepEqual([seen.status, seen.body], [200, 'second']);
    assert.equal(transport.attempts.length, 2);
    assert.match(transport.aborts[0]!, /per-try timeout/);
    assert.equal(clock.pending, 0);
  });

  it('per-try timeouts on every try end with HYPHAE_ERR_TRY_TIMEOUT once attempts are spent', async () => {
    const { handle, transport, clock } = setup(['hang'], { perTryMs: 50 }, true);
    const { call, seen } = newCall();
    const p = dispatchThrough(handle, call);
    for (let i = 0; i < 10; i++) {
      await flush();
      clock.advance(50);
    }
    await p;
    assert.equal(transport.attempts.length, 3);
    assert.ok(isMeshError(seen.error, ErrorCode.TRY_TIMEOUT), String(seen.error));
    assert.equal(seen.error!.message.includes('attempt 3'), true);
  });

  it('the last try gets only what the call has left', async () => {
    const { handle, transport, clock } = setup(['hang', 'hang', { status: 200 }], { requestMs: 230, perTryMs: 100 }, true);
    const { call, seen } = newCall();
    const p = dispatchThrough(handle, call);
    for (let i = 0; i < 30 && !seen.error && !seen.status; i++) {
      await flush();
      clock.advance(10);
    }
    await p;
    assert.deepEqual(
      transport.sent.map((s) => getHeader(s.headers, 'x-hyphae-deadline-ms')),
      ['100', '100', '30'],
    );
  });

  it('inside an inbound request, a call gets at most the time the request has left', async () => {
    const { handle, transport, clock } = setup([{ status: 200 }], { requestMs: 5000 });
    const ctx = new RequestContext(clock.now() + 180, clock);
    const { call } = newCall();
    await runInRequestContext(ctx, () => dispatchThrough(handle, call));
    assert.equal(call.logical.deadline, 180);
    assert.equal(getHeader(transport.sent[0]!.headers, 'x-hyphae-deadline-ms'), '180');
  });

  it('an inbound request already out of time fails the call before sending (rejected)', async () => {
    const { handle, transport, clock } = setup([{ status: 200 }], undefined);
    const ctx = new RequestContext(clock.now() + 5, clock);
    clock.advance(10);
    const { call, seen } = newCall();
    await runInRequestContext(ctx, () => dispatchThrough(handle, call));
    assert.ok(isMeshError(seen.error, ErrorCode.DEADLINE_EXCEEDED));
    assert.equal((seen.error as { rejected: boolean }).rejected, true);
    assert.equal(transport.attempts.length, 0);
  });

  it('a caller that goes away cancels the calls made for it (HYPHAE_ERR_CANCELLED)', async () => {
    const { handle, transport, clock } = setup(['hang'], undefined);
    const ctx = new RequestContext(Infinity, clock);
    const { call, seen } = newCall();
    const p = runInRequestContext(ctx, () => dispatchThrough(handle, call));
    await flush();
    ctx.cancel(new (await import('../../../src/core/errors.js')).MeshError(ErrorCode.CANCELLED, 'caller gone'));
    await p;
    assert.ok(isMeshError(seen.error, ErrorCode.CANCELLED));
    assert.equal(transport.aborts.length, 1);
    // A later call in the same cancelled request does not even start.
    const second = newCall();
    await runInRequestContext(ctx, () => dispatchThrough(handle, second.call));
    assert.ok(isMeshError(second.seen.error, ErrorCode.CANCELLED));
    assert.equal(transport.attempts.length, 1);
  });

  it('propagate: false ignores the inbound request', async () => {
    const clock = new FakeClock(0);
    const transport = new ScriptedTransport([{ status: 200 }]);
    const handle = compose([deadline({ clock, propagate: false }), perTryTimeout(), testBalance(() => eps)], transport.handle);
    const ctx = new RequestContext(clock.now() + 50, clock);
    const { call, seen } = newCall();
    await runInRequestContext(ctx, () => dispatchThrough(handle, call));
    assert.equal(seen.status, 200);
    assert.equal(call.logical.deadline, Infinity);
  });

  it('a deadline that passes while the body streams fails the body with the deadline error', async () => {
    const { handle, clock } = setup([{ status: 200, body: 'part', open: true }], { requestMs: 100 });
    const { call, seen } = newCall();
    await dispatchThrough(handle, call);
    assert.equal(seen.status, 200);
    assert.equal(seen.body, 'part');
    clock.advance(100);
    assert.ok(isMeshError(seen.error, ErrorCode.DEADLINE_EXCEEDED));
  });
});
