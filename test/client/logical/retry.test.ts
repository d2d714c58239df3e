import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { compose } from '../../../src/core/filter.js';
import { ErrorCode, isMeshError, MeshError } from '../../../src/core/errors.js';
import { retry, type RetryEvent } from '../../../src/client/logical/retry.js';
import { RetryBudget } from '../../../src/resilience/retry-budget.js';
import type { RetryPolicy } from '../../../src/resilience/retry-policy.js';
import type { MeshCall } from '../../../src/client/call/mesh-call.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { dispatchThrough, fakeEndpoint, flush, newCall, ScriptedTransport, sysError, testBalance, type Step } from '../../helpers/client-fakes.js';
import { retryPolicy } from '../../helpers/resilience-defaults.js';

const eps = [fakeEndpoint(1), fakeEndpoint(2), fakeEndpoint(3)];

function setup(script: Step[], opts: { policy?: RetryPolicy; budget?: RetryBudget; random?: () => number } = {}) {
  const clock = new FakeClock(0);
  const transport = new ScriptedTransport(script);
  const events: RetryEvent[] = [];
  const policy = opts.policy ?? retryPolicy();
  const handle = compose([retry({ policy: () => policy, budget: opts.budget, clock, random: opts.random ?? (() => 0), onRetry: (e) => events.push(e) }), testBalance(() => eps)], transport.handle);
  return { clock, transport, handle, events };
}

/** Run the call, advancing the fake clock until it settles. */
async function run(handle: ReturnType<typeof setup>['handle'], call: MeshCall, clock: FakeClock): Promise<void> {
  let settled = false;
  const p = dispatchThrough(handle, call).finally(() => (settled = true));
  for (let i = 0; i < 200 && !settled; i++) {
    await flush();
    clock.advance(10);
  }
  await p;
}

describe('retry filter (fake transport)', () => {
  it('discards a 503 and delivers the retry; the application sees only the second answer', async () => {
    const { handle, transport, clock, events } = setup([
      { status: 503, body: 'busy' },
      { status: 200, body: 'ok' },
    ]);
    const { call, seen } = newCall();
    await run(handle, call, clock);
    assert.deepEqual([seen.status, seen.body, seen.completed], [200, 'ok', true]);
    assert.equal(transport.attempts.length, 2);
    assert.equal(call.logical.attempt, 1);
    assert.deepEqual(
      events.map((e) => [e.condition, e.decision]),
      [['retriable-status', 'retry']],
    );
    assert.ok(
      eps.every((e) => e.inflight === 0),
      'the discarded attempt released its endpoint',
    );
  });

  it('an onRetry listener that throws changes nothing: the retry and the give-up still deliver, every endpoint is released', async () => {
    const clock = new FakeClock(0);
    const transport = new ScriptedTransport([
      { status: 503, body: 'busy' },
      { status: 503, body: 'still busy' },
    ]);
    let told = 0;
    const handle = compose(
      [
        retry({
          policy: () => retryPolicy(),
          clock,
          random: () => 0,
          onRetry: () => {
            told++;
            throw new Error('listener bug');
          },
        }),
        testBalance(() => eps),
      ],
      transport.handle,
    );
    const { call, seen } = newCall();
    await run(handle, call, clock);
    assert.deepEqual([seen.status, seen.body, seen.error], [503, 'still busy', undefined]);
    assert.equal(told, 2, 'told of the retry and of the give-up');
    assert.ok(
      eps.every((e) => e.inflight === 0),
      'no attempt left holding its endpoint',
    );
  });

  it('the retry avoids the endpoint that failed, which is recorded on the call', async () => {
    const { handle, transport, clock } = setup([{ error: sysError('ECONNREFUSED') }, { status: 200 }]);
    const { call } = newCall();
    await run(handle, call, clock);
    const [first, second] = transport.sent.map((s) => s.endpoint);
    assert.notEqual(first, second);
    assert.deepEqual(
      call.logical.failedEndpoints?.map((e) => e.id),
      [first],
    );
  });

  it('a discarded response whose body is still streaming is aborted (its socket must not be reused)', async () => {
    const { handle, transport, clock } = setup([{ status: 502, open: true }, { status: 200 }]);
    const { call, seen } = newCall();
    await run(handle, call, clock);
    assert.equal(seen.status, 200);
    assert.deepEqual(transport.aborts, ['response discarded by the mesh']);
  });

  it('gives up after `attempts` and delivers the last answer as it is', async () => {
    const { handle, transport, clock, events } = setup([{ status: 503, body: 'no' }], { policy: retryPolicy({ attempts: 3 }) });
    const { call, seen } = newCall();
    await run(handle, call, clock);
    assert.deepEqual([seen.status, seen.body], [503, 'no']);
    assert.equal(transport.attempts.length, 3);
    assert.equal(events.at(-1)!.decision, 'attempts-exhausted');
  });

  it('throws the last transport error after the attempts', async () => {
    const { handle, clock } = setup([{ error: sysError('ECONNRESET') }]);
    const { call, seen } = newCall();
    await run(handle, call, clock);
    assert.equal((seen.error as { code?: string }).code, 'ECONNRESET');
  });

  it('does not retry what is final: 500, 404, unknown errors, mesh refusals', async () => {
    for (const step of [{ status: 500 }, { status: 404 }, { error: new Error('bug') }, { error: new MeshError(ErrorCode.NO_ENDPOINTS, 'none', { rejected: true }) }] as Step[]) {
      const { handle, transport, clock } = setup([step, { status: 200 }]);
      const { call } = newCall();
      await run(handle, call, clock);
      assert.equal(transport.attempts.length, 1, JSON.stringify(step));
    }
  });

  it('POST: not retried after a reset or a 503, retried after a connect failure or a shed 503', async () => {
    const cases: [Step, number][] = [
      [{ error: sysError('ECONNRESET') }, 1],
      [{ status: 503 }, 1],
      [{ error: sysError('ECONNREFUSED') }, 2],
      [{ status: 503, headers: { 'x-hyphae-rejected': 'shed', 'retry-after': '1' } }, 2],
    ];
    for (const [step, attempts] of cases) {
      const { handle, transport, clock, events } = setup([step, { status: 200 }]);
      const { call } = newCall({ method: 'POST', body: 'x' });
      await run(handle, call, clock);
      assert.equal(transport.attempts.length, attempts, JSON.stringify(step));
      if (attempts === 1) assert.equal(events[0]!.decision, 'not-idempotent');
    }
  });

  it('POST with an Idempotency-Key, or a policy that opts in, is retried after a reset', async () => {
    for (const [opts, policy] of [
      [{ headers: { 'Idempotency-Key': 'k1' } }, retryPolicy()],
      [{ headers: ['idempotency-key', 'k2'] }, retryPolicy()],
      [{}, retryPolicy({ retryNonIdempotent: true })],
    ] as const) {
      const { handle, transport, clock } = setup([{ error: sysError('UND_ERR_SOCKET', 'other side closed') }, { status: 200 }], { policy });
      const { call, seen } = newCall({ method: 'POST', body: 'x', ...opts } as never);
      await run(handle, call, clock);
      assert.equal(transport.attempts.length, 2);
      assert.equal(seen.status, 200);
      assert.equal(transport.sent[1]!.body, 'x', 'the same body is sent again');
    }
  });

  it('waits a full-jitter backoff on the clock between attempts', async () => {
    const { handle, transport, clock } = setup([{ status: 503 }, { status: 200 }], { random: () => 0.999 });
    const { call } = newCall();
    const p = dispatchThrough(handle, call);
    await flush();
    assert.equal(transport.attempts.length, 1);
    clock.advance(23);
    await flush();
    assert.equal(transport.attempts.length, 1, 'still backing off (24 ms)');
    clock.advance(1);
    await flush();
    assert.equal(transport.attempts.length, 2);
    await p;
  });

  it('does not retry when the backoff would end past the call deadline', async () => {
    const { handle, transport, clock, events } = setup([{ error: sysError('ECONNRESET') }, { status: 200 }], { random: () => 0.999 });
    const { call, seen } = newCall();
    call.logical.deadline = clock.now() + 20; // less than the 24 ms backoff
    await run(handle, call, clock);
    assert.equal(transport.attempts.length, 1);
    assert.equal(events[0]!.decision, 'deadline');
    assert.equal((seen.error as { code?: string }).code, 'ECONNRESET');
  });

  it('a spent budget returns the original error and counts it', async () => {
    const clock = new FakeClock(0);
    const budget = new RetryBudget({ percent: 0, minPerSecond: 0.1, windowMs: 10_000 }, clock); // one retry per window
    const { handle, transport, events } = setup([{ error: sysError('ECONNREFUSED') }], { budget, policy: retryPolicy({ attempts: 5 }) });
    const { call, seen } = newCall();
    await run(handle, call, clock);
    assert.equal(transport.attempts.length, 2, 'the first try and the one retry the budget allows');
    assert.equal(events.at(-1)!.decision, 'budget-exhausted');
    assert.equal((seen.error as { code?: string }).code, 'ECONNREFUSED');
    assert.equal(budget.stats().exhausted, 1);
    assert.equal(budget.stats().requests, 1);
  });

  it('a streaming body of unknown length is never replayed: its own error code when a retry was needed', async () => {
    const { handle, transport, clock, events } = setup([{ error: sysError('ECONNRESET') }, { status: 200 }]);
    const body = Readable.from([Buffer.from('a'), Buffer.from('b')]);
    const { call, seen } = newCall({ method: 'PUT', body });
    await run(handle, call, clock);
    assert.equal(transport.attempts.length, 1);
    assert.equal(events[0]!.decision, 'body-not-replayable');
    assert.ok(isMeshError(seen.error, ErrorCode.BODY_NOT_REPLAYABLE), String(seen.error));
    assert.equal((seen.error!.cause as { code?: string }).code, 'ECONNRESET');
    assert.equal(transport.sent[0]!.body, body, 'sent as the stream it was');
  });

  it('a retryable response with a streaming body is delivered as it is', async () => {
    const { handle, clock } = setup([{ status: 503, body: 'busy' }, { status: 200 }]);
    const { call, seen } = newCall({ method: 'PUT', body: Readable.from(['x']) });
    await run(handle, call, clock);
    assert.deepEqual([seen.status, seen.body], [503, 'busy']);
  });

  it('a small stream with a Content-Length is buffered up front and replayed (what mesh.fetch sends)', async () => {
    const { handle, transport, clock } = setup([{ error: sysError('ECONNRESET') }, { status: 200 }]);
    async function* gen() {
      yield new TextEncoder().encode('hello ');
      yield new TextEncoder().encode('world');
    }
    const { call, seen } = newCall({ method: 'PUT', body: gen() as never, headers: { 'content-length': '11' } });
    const callerOpts = call.opts;
    const stream = callerOpts.body;
    await run(handle, call, clock);
    assert.equal(callerOpts.body, stream, "the caller's options are not edited: the buffer goes on a copy");
    assert.equal(seen.status, 200);
    assert.equal(transport.sent.length, 2);
    for (const s of transport.sent) assert.equal(Buffer.from(s.body as Buffer).toString(), 'hello world');
  });

  it('a stream longer than maxReplayBytes is sent whole as a stream and not replayed', async () => {
    const { handle, transport, clock } = setup([{ error: sysError('ECONNRESET') }, { status: 200 }], { policy: retryPolicy({ maxReplayBytes: 4 }) });
    const { call, seen } = newCall({ method: 'PUT', body: Readable.from([Buffer.from('abc'), Buffer.from('def'), Buffer.from('g')]), headers: { 'content-length': '4' } });
    await run(handle, call, clock);
    assert.ok(isMeshError(seen.error, ErrorCode.BODY_NOT_REPLAYABLE));
    const chunks: Buffer[] = [];
    for await (const c of transport.sent[0]!.body as AsyncIterable<Buffer>) chunks.push(c);
    assert.equal(Buffer.concat(chunks).toString(), 'abcdefg', 'no byte lost');
  });

  it('strings, buffers and chunk arrays up to maxReplayBytes are replayed; larger ones are not', async () => {
    const policy = retryPolicy({ maxReplayBytes: 8 });
    for (const [body, attempts] of [
      ['12345678', 2],
      ['123456789', 1],
      [Buffer.alloc(8), 2],
      [Buffer.alloc(9), 1],
      [['1234', Buffer.from('5678')], 2],
      [['1234', '56789'], 1],
    ] as const) {
      const { handle, transport, clock } = setup([{ error: sysError('ECONNRESET') }, { status: 200 }], { policy });
      const { call } = newCall({ method: 'PUT', body: body as never });
      await run(handle, call, clock);
      assert.equal(transport.attempts.length, attempts, `body ${JSON.stringify(body)}`);
    }
  });

  it('an abort during the backoff ends the call at once with its reason', async () => {
    const { handle, transport, clock } = setup([{ status: 503 }, { status: 200 }], { random: () => 0.999 });
    const { call, seen } = newCall();
    const p = dispatchThrough(handle, call);
    await flush();
    const reason = new Error('user gave up');
    call.abort(reason);
    await p;
    assert.equal(seen.error, reason);
    clock.advance(1000);
    await flush();
    assert.equal(transport.attempts.length, 1);
    assert.equal(clock.pending, 0, 'the backoff timer was cleared');
  });

  it('without a policy, or with 1 attempt, it adds nothing: the inner promise is returned as is', async () => {
    const transport = new ScriptedTransport([{ status: 503 }]);
    const inner = testBalance(() => eps)(transport.handle);
    for (const policy of [undefined, retryPolicy({ attempts: 1 })]) {
      let innerPromise: Promise<unknown> | undefined;
      const handle = retry({ policy: () => policy })((c) => (innerPromise = inner(c)) as never);
      const { call } = newCall();
      const p = handle(call);
      assert.equal(p, innerPromise);
      (await p).deliver();
    }
  });
});
